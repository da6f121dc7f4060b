import ContractRuntime
import EventSource
import Foundation
import Gateway
import Generated
import GRPCCore
import Kafka
import Logging
import Postgres
package import ServiceKit
import ServiceLifecycle

/// Runs Hermes: reads its settings from the environment, opens and migrates its database, and serves
/// TrackingService, DeliveryAdminService and DelivererService (gRPC + REST) until SIGTERM, with the
/// outbox relay, the consumer of its own events (group `hermes`) and the live-position hub as
/// background services.
///
/// Environment (besides ServerSettings' `HERMES_GRPC_*`, `HERMES_HTTP_*`, `LOG_LEVEL`,
/// `COURIER_IDENTITY_ADDRESS`):
/// - `HERMES_DATABASE_URL`, `COURIER_KAFKA_BOOTSTRAP`, `COURIER_IRIS_ADDRESS`
/// - `COURIER_KAFKA_FETCH_WAIT` (100ms): how long the broker may hold the consumer's fetch. Short,
///   because the test broker answers a fetch that found nothing only when this wait is over (see
///   `KafkaConsumerConfiguration.fetchMaxWait`); Apache Kafka answers as soon as records arrive.
/// - `COURIER_EVENT_PARTITIONS` (4): partitions of an event topic created by the relay or consumer.
/// - `HERMES_MAIL_INTERVAL`: at most one tracking mail per subscriber and payload per interval (15m).
/// - `HERMES_TRACKING_URL`: the user client's tracking page that notifications link to.
/// - `HERMES_DEVICE_URL`: the OsmAnd endpoint's public URL, shown to admins for deliverers' phones.
/// - `HERMES_ARRIVING_RADIUS_METERS` (500), `HERMES_ARRIVING_SOON_WITHIN` (5m): "arriving soon" is
///   told once when a carried payload is this close to its destination or due this soon.
/// - `HERMES_BUCKET`: `folder` (default; `HERMES_BUCKET_FOLDER`) or `s3` (`HERMES_S3_ENDPOINT`,
///   `HERMES_S3_BUCKET`, `HERMES_S3_REGION`, `HERMES_S3_ACCESS_KEY_ID`, `HERMES_S3_SECRET_ACCESS_KEY`).
package enum HermesApp {
  package static func run(environment: ServiceEnvironment = ServiceEnvironment()) async throws {
    let settings = try ServerSettings(
      prefix: "HERMES", defaultGRPCPort: 50053, defaultHTTPPort: 8083, environment: environment)
    ServiceLogging.bootstrap(service: "hermes", level: settings.logLevel)
    _ = ServiceMetrics.bootstrap()
    let logger = Logger(label: "courier.hermes")

    let databaseURL = environment.string(
      "HERMES_DATABASE_URL", default: "postgresql://hermes@127.0.0.1:55432/courier",
      "libpq connection string of Hermes' database (schemas hermes and event_source)")
    let kafkaBootstrap = try environment.address(
      "COURIER_KAFKA_BOOTSTRAP", default: "127.0.0.1:59092", "host:port of a Kafka (or Tansu) broker")
    var consumerSettings = KafkaConsumerConfiguration.defaults
    consumerSettings.fetchMaxWait = try environment.duration(
      "COURIER_KAFKA_FETCH_WAIT", default: .milliseconds(100),
      "how long the broker may hold the consumer's fetch while it has no records")
    let partitions = Int32(try environment.int(
      "COURIER_EVENT_PARTITIONS", default: Int(EventRelay.defaultPartitions), in: EventRelay.partitionCounts,
      "partitions of an event topic that the relay or the consumer creates (existing topics keep theirs)"))
    let irisAddress = try environment.address(
      "COURIER_IRIS_ADDRESS", default: "127.0.0.1:50052", "host:port of Iris' gRPC (push and mail)")
    let identityAddress = try environment.address(
      "COURIER_IDENTITY_ADDRESS", default: "127.0.0.1:50051", "host:port of Asgardian's gRPC (GetUserData)")
    let configuration = HermesConfiguration(
      mailInterval: try environment.duration(
        "HERMES_MAIL_INTERVAL", default: .seconds(15 * 60), "at most one tracking mail per subscriber and payload per interval"),
      trackingURL: environment.string(
        "HERMES_TRACKING_URL", default: "http://127.0.0.1:8080/app/tracking", "the tracking page notifications link to"),
      deviceURL: environment.string(
        "HERMES_DEVICE_URL", default: "http://127.0.0.1:8080\(OsmAndEndpoint.path)",
        "the OsmAnd endpoint's public URL that admins type into deliverers' phones (Traccar Client's server URL)"),
      arrival: ArrivalEstimator(
        arrivingRadius: Double(try environment.int(
          "HERMES_ARRIVING_RADIUS_METERS", default: 500, in: 0...100_000,
          "subscribers are told once that a payload is arriving soon within this distance of its destination")),
        arrivingWithin: try environment.duration(
          "HERMES_ARRIVING_SOON_WITHIN", default: .seconds(300),
          "... or when its estimated arrival is this close").timeInterval))
    let bucket = try bucket(environment)

    let poolSize = try environment.int(
      "HERMES_DATABASE_POOL_SIZE", default: 16, in: 1...200,
      "connections in Hermes' pool (position streams, the event consumer's partitions and REST share it)")
    let pool = PostgresPool(configuration: PostgresConfiguration(
      connectionString: databaseURL, applicationName: "hermes",
      pool: .init(maxConnections: poolSize, waitTimeout: .seconds(10))))
    let store = EventStore(pool: pool, producer: "hermes")
    try await store.migrate()

    let iris = try ServiceClient(host: irisAddress.host, port: irisAddress.port)
    let identity = try ServiceClient(host: identityAddress.host, port: identityAddress.port)
    let users = CachingUserDirectory(
      IdentityServiceUserDirectory(client: identity.client),
      ttl: try environment.duration(
        "HERMES_USER_CACHE_TTL", default: .seconds(5),
        "how long a user read from Asgardian (address, preferences, disabled) is reused"),
      grace: try environment.duration(
        "HERMES_USER_CACHE_GRACE", default: .seconds(5),
        "how long after that a user may still be used while it is read again in the background"))
    let notifier = IrisNotifier(client: iris.client)
    let hub = PositionHub()
    let core = HermesCore(
      pool: pool, events: store, configuration: configuration, users: users, bucket: bucket, hub: hub, logger: logger)
    try await core.migrate()

    let kafka = KafkaConfiguration(bootstrapServers: [.init(host: kafkaBootstrap.host, port: kafkaBootstrap.port)])
    let relay = EventRelay.withOwnConnection(
      store: store, applicationName: "hermes-relay", kafka: kafka,
      configuration: .init(partitions: partitions, topics: CourierContracts.events.bindings.map(\.topic)))
    let consumer = PayloadEvents(configuration: configuration, users: users, notifier: notifier, bucket: bucket)
      .consumer(
        store: store, kafka: kafka,
        configuration: .init(group: PayloadEvents.group, kafkaConsumer: consumerSettings, partitions: partitions))

    let tracking = TrackingServiceImpl(core: core)
    let admin = DeliveryAdminServiceImpl(core: core)
    let deliverer = DelivererServiceImpl(core: core)
    let server = CourierServer(
      name: "hermes",
      settings: settings,
      grpcServices: [tracking, admin, deliverer],
      restRoutes: Courier_Hermes_V1_TrackingService_REST.routes(for: tracking)
        + Courier_Hermes_V1_DeliveryAdminService_REST.routes(for: admin)
        + Courier_Hermes_V1_DelivererService_REST.routes(for: deliverer),
      deviceEndpoints: [OsmAndEndpoint.path: { [osmAnd = OsmAndEndpoint(core: core)] in await osmAnd.respond(to: $0) }],
      openAPIDocuments: [
        Courier_Hermes_V1_TrackingService_REST.openAPIDocument,
        Courier_Hermes_V1_DeliveryAdminService_REST.openAPIDocument,
        Courier_Hermes_V1_DelivererService_REST.openAPIDocument,
      ],
      contracts: [Courier_Hermes_V1_Hermes_Contract.file],
      authenticator: nil,  // IsAuthenticated on Asgardian (settings.identityAddress), cached
      backgroundServices: [
        iris, identity, Loop { try await relay.run() }, Loop { try await consumer.run() },
        Loop { try await hub.run(pool: pool) },
      ],
      readiness: { (try? await pool.query("SELECT 1")) != nil },
      onDrain: { hub.shutDown() },
      logger: logger)
    do {
      try await server.run()
    } catch {
      await relay.close()
      await pool.close()
      throw error
    }
    await relay.close()
    await pool.close()
  }

  /// The receipt bucket: a folder by default, or S3.
  static func bucket(_ environment: ServiceEnvironment) throws -> any Bucket {
    let kind = environment.string("HERMES_BUCKET", default: "folder", "where receipts go: folder or s3")
    switch kind {
    case "folder":
      let path = environment.string("HERMES_BUCKET_FOLDER", default: "var/hermes/bucket", "the receipt folder")
      return try FolderBucket(root: URL(fileURLWithPath: path))
    case "s3":
      guard
        let endpoint = environment.optionalString("HERMES_S3_ENDPOINT", "S3 endpoint URL, such as https://s3.eu-central-1.amazonaws.com")
          .flatMap(URL.init(string:)),
        let name = environment.optionalString("HERMES_S3_BUCKET", "the S3 bucket's name"),
        let key = environment.optionalString("HERMES_S3_ACCESS_KEY_ID", "S3 access key id"),
        let secret = environment.optionalString("HERMES_S3_SECRET_ACCESS_KEY", "S3 secret access key")
      else {
        throw InvalidSetting(
          description: "HERMES_BUCKET=s3 needs HERMES_S3_ENDPOINT, HERMES_S3_BUCKET, HERMES_S3_ACCESS_KEY_ID and HERMES_S3_SECRET_ACCESS_KEY")
      }
      let region = environment.string("HERMES_S3_REGION", default: "us-east-1", "the bucket's region (SigV4 scope)")
      return S3Bucket(
        endpoint: endpoint, bucket: name, region: region,
        credentials: .init(accessKeyID: key, secretAccessKey: secret))
    default:
      throw InvalidSetting(description: "HERMES_BUCKET must be folder or s3, got '\(kind)'")
    }
  }
}

/// A setting that cannot be used (an incomplete S3 setup, say).
struct InvalidSetting: Error, CustomStringConvertible {
  var description: String
}

/// A background loop as a ServiceLifecycle service: runs until cancelled at shutdown.
struct Loop: Service {
  let body: @Sendable () async throws -> Void

  init(_ body: @escaping @Sendable () async throws -> Void) {
    self.body = body
  }

  func run() async throws {
    try await cancelWhenGracefulShutdown { try await body() }
  }
}
