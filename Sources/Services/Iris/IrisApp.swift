import Foundation
import Generated
import Logging
import Mail
import Postgres
public import ServiceKit
import WebPush

/// Iris, Courier's notification service, as a process: reads its settings, migrates its schema,
/// and serves gRPC and REST until SIGTERM.
public enum IrisApp {
  /// Runs Iris until it is told to stop. `onListening` gets the bound gRPC and HTTP ports.
  public static func run(
    environment: ServiceEnvironment = ServiceEnvironment(),
    onListening: @escaping @Sendable (_ grpcPort: Int, _ httpPort: Int) async -> Void = { _, _ in }
  ) async throws {
    let settings = try IrisSettings(environment: environment)
    ServiceLogging.bootstrap(service: "iris", level: settings.server.logLevel)
    _ = ServiceMetrics.bootstrap()
    let logger = Logger(label: "courier.iris")

    let pool = PostgresPool(
      configuration: PostgresConfiguration(
        connectionString: settings.databaseURL, applicationName: "iris",
        pool: .init(maxConnections: settings.databasePoolSize, waitTimeout: .seconds(5))),
      logger: logger)
    let applied = try await pool.migrate(schema: IrisMigrations.schema, migrations: IrisMigrations.all)
    if !applied.isEmpty { logger.info("schema migrated", metadata: ["versions": "\(applied)"]) }

    let mailDrop: MailDropTransport?
    let mail: any MailTransport
    switch settings.mailTransport {
    case .mailDrop:
      let drop = try MailDropTransport(directory: URL(fileURLWithPath: settings.mailDropDirectory))
      mailDrop = drop
      mail = drop
    case .smtp:
      mailDrop = nil
      mail = SMTPTransport(settings.smtp)
    }

    let vapid = try settings.webPushEnabled ? loadVAPIDKey(settings, logger: logger) : nil
    let push = try vapid.map {
      try WebPushSender(
        vapid: $0, subject: settings.vapidSubject, timeout: settings.pushTimeout,
        trustRootsPEMFile: settings.pushTrustRootsFile)
    }

    let deliveries = DeliveryStore(pool: pool)
    let subscriptions = PushSubscriptionStore(pool: pool)
    let hub = LiveHub(pool: pool, logger: logger)
    let sender = DeliverySender(
      store: deliveries, subscriptions: subscriptions, mail: mail, push: push, from: settings.mailFrom,
      policy: settings.retry, logger: logger)

    let notifications = NotificationService(sender: sender, templates: .shipped)
    let pushSubscriptions = PushSubscriptionService(store: subscriptions, vapidPublicKey: vapid?.publicKeyBase64URL)
    let live = LiveNotificationService(hub: hub)
    let log = DeliveryLogService(store: deliveries, mailDrop: mailDrop)

    let server = CourierServer(
      name: "iris",
      settings: settings.server,
      grpcServices: [notifications, pushSubscriptions, live, log],
      restRoutes: Courier_Iris_V1_PushSubscriptionService_REST.routes(for: pushSubscriptions)
        + Courier_Iris_V1_LiveNotificationService_REST.routes(for: live)
        + Courier_Iris_V1_DeliveryLogService_REST.routes(for: log),
      openAPIDocuments: [
        Courier_Iris_V1_PushSubscriptionService_REST.openAPIDocument,
        Courier_Iris_V1_LiveNotificationService_REST.openAPIDocument,
        Courier_Iris_V1_DeliveryLogService_REST.openAPIDocument,
      ],
      contracts: [Courier_Iris_V1_Iris_Contract.file],
      authenticator: nil,
      backgroundServices: [
        RetryWorker(sender: sender, pollInterval: settings.retryPollInterval, batchSize: 16, logger: logger),
        LiveHub.Feeder(hub: hub),
      ],
      readiness: { (try? await pool.query("SELECT 1")) != nil },
      onDrain: { hub.shutDown() },
      logger: logger)
    do {
      try await server.run(onListening: onListening)
    } catch {
      try? await push?.shutdown()
      await pool.close()
      throw error
    }
    try? await push?.shutdown()
    await pool.close()
  }

  /// Every variable Iris reads, with its default and meaning, in the order they are read.
  public static func environmentDocumentation(
    environment: ServiceEnvironment = ServiceEnvironment()
  ) throws -> [(name: String, defaultValue: String, doc: String)] {
    _ = try IrisSettings(environment: environment)
    return environment.documentation
  }

  /// The VAPID key from IRIS_VAPID_PRIVATE_KEY, else from IRIS_VAPID_KEY_FILE, which is made (mode
  /// 0600) with a new key when it does not exist yet.
  static func loadVAPIDKey(_ settings: IrisSettings, logger: Logger) throws -> VAPIDKey {
    if let text = settings.vapidPrivateKey {
      do {
        return try VAPIDKey(privateKeyBase64URL: text)
      } catch {
        throw ConfigurationError(variable: "IRIS_VAPID_PRIVATE_KEY", message: error.description)
      }
    }
    let url = URL(fileURLWithPath: settings.vapidKeyFile)
    if let data = FileManager.default.contents(atPath: url.path) {
      let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
      do {
        return try VAPIDKey(privateKeyBase64URL: text)
      } catch {
        throw ConfigurationError(variable: "IRIS_VAPID_KEY_FILE", message: "\(url.path): \(error.description)")
      }
    }
    let key = VAPIDKey.generate()
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    guard FileManager.default.createFile(
      atPath: url.path, contents: Data((key.privateKeyBase64URL + "\n").utf8), attributes: [.posixPermissions: 0o600])
    else {
      throw ConfigurationError(variable: "IRIS_VAPID_KEY_FILE", message: "cannot write \(url.path)")
    }
    logger.notice("made a new VAPID key", metadata: ["file": "\(url.path)"])
    return key
  }
}
