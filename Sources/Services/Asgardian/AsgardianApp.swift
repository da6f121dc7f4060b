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

/// Runs Asgardian: reads its settings from the environment, opens and migrates its database,
/// creates the first admin when asked to, and serves IdentityService (gRPC), AccountService and
/// UserAdminService (gRPC + REST) until SIGTERM, with the outbox relay and the `UserCreated`
/// consumer (welcome mail) as background services.
///
/// Environment (besides ServerSettings' `ASGARDIAN_GRPC_*`, `ASGARDIAN_HTTP_*`, `LOG_LEVEL`):
/// - `ASGARDIAN_DATABASE_URL`, `COURIER_KAFKA_BOOTSTRAP`, `COURIER_IRIS_ADDRESS`
/// - `COURIER_KAFKA_FETCH_WAIT` (500ms): how long the broker may hold the consumer's fetch.
/// - `COURIER_EVENT_PARTITIONS` (4): partitions of an event topic created by the relay or consumer.
/// - `ASGARDIAN_SIGNING_KEY` + `ASGARDIAN_SIGNING_KEY_ID`: the Ed25519 seed (base64) that signs access
///   tokens; make one with `openssl genpkey -algorithm ed25519 -outform DER | tail -c 32 | base64`.
///   Unset: a key file (`ASGARDIAN_KEY_FILE`) is made on first start, for local runs only.
/// - `ASGARDIAN_VERIFY_KEYS`: `kid:base64publickey,...` of earlier signing keys during a rotation.
/// - `ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL` + `ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD`: create the first admin
///   when no admin exists (never a default password).
package enum AsgardianApp {
  package static func run(environment: ServiceEnvironment = ServiceEnvironment()) async throws {
    try await run(environment: environment, documentationOnly: false)
  }

  /// Every variable Asgardian reads, with its default and meaning.
  package static func environmentDocumentation(
    environment: ServiceEnvironment = ServiceEnvironment()
  ) async throws -> [(name: String, defaultValue: String, doc: String)] {
    try await run(environment: environment, documentationOnly: true)
    return environment.documentation
  }

  private static func run(environment: ServiceEnvironment, documentationOnly: Bool) async throws {
    let settings = try ServerSettings(
      prefix: "ASGARDIAN", defaultGRPCPort: 50051, defaultHTTPPort: 8081, environment: environment)
    ServiceLogging.bootstrap(service: "asgardian", level: settings.logLevel)
    _ = ServiceMetrics.bootstrap()
    let logger = Logger(label: "courier.asgardian")

    let databaseURL = environment.string(
      "ASGARDIAN_DATABASE_URL", default: "postgresql://asgardian@127.0.0.1:55432/courier",
      "libpq connection string of Asgardian's database (schemas asgardian and event_source)")
    let kafkaBootstrap = try environment.address(
      "COURIER_KAFKA_BOOTSTRAP", default: "127.0.0.1:59092", "host:port of a Kafka (or Tansu) broker")
    var consumerSettings = KafkaConsumerConfiguration.defaults
    consumerSettings.fetchMaxWait = try environment.duration(
      "COURIER_KAFKA_FETCH_WAIT", default: consumerSettings.fetchMaxWait,
      "how long the broker may hold the consumer's fetch while it has no records")
    let partitions = Int32(try environment.int(
      "COURIER_EVENT_PARTITIONS", default: Int(EventRelay.defaultPartitions), in: EventRelay.partitionCounts,
      "partitions of an event topic that the relay or the consumer creates (existing topics keep theirs)"))
    let irisAddress = try environment.address(
      "COURIER_IRIS_ADDRESS", default: "127.0.0.1:50052", "host:port of Iris' gRPC (welcome and recovery mail)")
    let bootstrapEmail = environment.optionalString(
      "ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL", "email of the first admin, created when no admin exists")
    let bootstrapPassword = environment.optionalString(
      "ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD", "password of the first admin (8 to 128 characters)")
    if documentationOnly { return }
    let configuration = try configuration(environment)

    let pool = PostgresPool(configuration: PostgresConfiguration(connectionString: databaseURL, applicationName: "asgardian"))
    let store = EventStore(pool: pool, producer: "asgardian")
    try await store.migrate()

    let iris = try ServiceClient(host: irisAddress.host, port: irisAddress.port)
    let mailer = IrisMailSender(client: iris.client)
    let core = AsgardianCore(pool: pool, events: store, configuration: configuration, mailer: mailer, logger: logger)
    try await core.migrate()

    if let email = bootstrapEmail, let password = bootstrapPassword {
      do {
        try await core.bootstrapAdmin(email: email, password: password)
      } catch BootstrapAdminError.adminExists {
        logger.info("an admin exists; ASGARDIAN_BOOTSTRAP_ADMIN_* ignored")
      }
    }

    let kafka = KafkaConfiguration(bootstrapServers: [.init(host: kafkaBootstrap.host, port: kafkaBootstrap.port)])
    let relay = EventRelay.withOwnConnection(
      store: store, applicationName: "asgardian-relay", kafka: kafka,
      configuration: .init(partitions: partitions, topics: CourierContracts.events.bindings.map(\.topic)))
    let consumer = WelcomeMail.consumer(
      store: store, kafka: kafka, mailer: mailer,
      configuration: .init(group: WelcomeMail.group, kafkaConsumer: consumerSettings, partitions: partitions))

    let account = AccountServiceImpl(core: core)
    let admin = UserAdminServiceImpl(core: core)
    let server = CourierServer(
      name: "asgardian",
      settings: settings,
      grpcServices: [IdentityServiceImpl(core: core), account, admin],
      restRoutes: Courier_Asgardian_V1_AccountService_REST.routes(for: account)
        + Courier_Asgardian_V1_UserAdminService_REST.routes(for: admin),
      openAPIDocuments: [
        Courier_Asgardian_V1_AccountService_REST.openAPIDocument,
        Courier_Asgardian_V1_UserAdminService_REST.openAPIDocument,
      ],
      contracts: [Courier_Asgardian_V1_Asgardian_Contract.file],
      // Not cached: Asgardian checks its own tokens in process (one query), and a cache would keep a
      // token that Logout, a password reset or an admin just revoked working until its entry expired.
      authenticator: AsgardianAuthenticator(core: core),
      backgroundServices: [iris, Loop { try await relay.run() }, Loop { try await consumer.run() }],
      readiness: { (try? await pool.query("SELECT 1")) != nil },
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

  /// Token, password and limit settings from the environment.
  static func configuration(_ environment: ServiceEnvironment) throws -> AsgardianConfiguration {
    let signing: SigningKey
    if let seed = environment.optionalString(
      "ASGARDIAN_SIGNING_KEY", "base64 Ed25519 seed that signs access tokens (see SigningKey for the command)")
    {
      let id = environment.string("ASGARDIAN_SIGNING_KEY_ID", default: "default", "key id (kid) of ASGARDIAN_SIGNING_KEY")
      signing = try SigningKey(id: id, base64PrivateKey: seed)
    } else {
      let path = environment.string(
        "ASGARDIAN_KEY_FILE", default: "var/asgardian/signing-key",
        "local runs without ASGARDIAN_SIGNING_KEY: the key file, made on first start")
      signing = try SigningKeyFile.loadOrCreate(path: path)
    }
    let previous = try TokenKeySet.parsePublicKeys(
      environment.string("ASGARDIAN_VERIFY_KEYS", default: "", "kid:base64 public keys of earlier signing keys, comma-separated"))
    return AsgardianConfiguration(
      keys: try TokenKeySet(signing: signing, previous: previous),
      accessTokenLifetime: try environment.duration("ASGARDIAN_ACCESS_TOKEN_TTL", default: .seconds(900), "access token lifetime"),
      refreshTokenLifetime: try environment.duration(
        "ASGARDIAN_REFRESH_TOKEN_TTL", default: .seconds(30 * 24 * 3600), "refresh token lifetime"),
      recoveryTokenLifetime: try environment.duration(
        "ASGARDIAN_RESET_TOKEN_TTL", default: .seconds(30 * 60), "password reset token lifetime"),
      resetURL: environment.string(
        "ASGARDIAN_RESET_URL", default: "http://127.0.0.1:8080/app/recover", "the page a recovery mail links to"),
      passwordParameters: PasswordHasher.Parameters(
        logN: try environment.int("ASGARDIAN_SCRYPT_LOG_N", default: 15, in: 10...20, "scrypt cost: log2 N"), r: 8, p: 1),
      loginLimit: try environment.int(
        "ASGARDIAN_LOGIN_LIMIT", default: 10, in: 1...10_000, "failed logins per account and per address per minute"))
  }
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
