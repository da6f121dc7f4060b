public import ContractRuntime
public import Gateway
public import GRPCCore
import Generated
import Health
public import Logging
import Prometheus
public import ServiceLifecycle
import Transport
import UnixSignals

/// The gRPC and HTTP servers of one Courier service, run as a swift-service-lifecycle
/// `ServiceGroup` with SIGTERM and SIGINT as graceful-shutdown signals.
///
/// gRPC: the services given plus `grpc.health.v1.Health` (every registered service and the server
/// "" SERVING), on our nghttp2 transport, behind `CourierServerInterceptor`. HTTP: the REST gateway
/// with the generated routes, `/openapi.json`, `/healthz`, `/readyz` and `/metrics` (Prometheus text
/// from `ServiceMetrics`' registry plus process metrics).
///
/// Shutdown (a signal, `shutdown()`): health turns NOT_SERVING and `/readyz` 503, the gRPC server
/// stops accepting and sends GOAWAY, the HTTP server stops accepting; in-flight calls get
/// `settings.shutdownGrace` to finish, then everything still running is cancelled; background
/// services are shut down after the servers, the identity client last. Cancelling the task that
/// runs `run()` cancels everything at once.
public struct CourierServer: Sendable {
  private let name: String
  private let settings: ServerSettings
  private let grpcServices: [any RegistrableRPCService]
  private let restRoutes: [RESTRoute]
  private let deviceEndpoints: [String: GatewayEndpoint]
  private let openAPIDocuments: [String]
  private let contracts: [FileContract]
  private let authenticator: (any Authenticator)?
  private let backgroundServices: [any ServiceLifecycle.Service]
  private let readiness: @Sendable () async -> Bool
  private let onDrain: @Sendable () -> Void
  private let logger: Logger
  private let control = ShutdownControl()

  /// - Parameters:
  ///   - name: the service's short name (`iris`), for logs.
  ///   - grpcServices: the service's gRPC services; the health service is added here.
  ///   - restRoutes: the generated `<Service>_REST.routes(for:)` of the REST-visible services.
  ///   - deviceEndpoints: HTTP endpoints by exact path for devices with a protocol of their own
  ///     (every method, no bearer token; see `GatewayCore`).
  ///   - openAPIDocuments: their `<Service>_REST.openAPIDocument`s, merged into `/openapi.json`.
  ///   - contracts: the files whose access rules apply to gRPC calls (`CourierContracts.files`).
  ///   - authenticator: checks bearer tokens; nil builds one from `settings.identityAddress`
  ///     (Asgardian `IsAuthenticated`, cached), or rejects every token when that is unset too.
  ///   - backgroundServices: run next to the servers, shut down after them.
  ///   - readiness: answers `/readyz` while the server is not shutting down.
  ///   - onDrain: called when shutdown begins, before in-flight calls are waited for: end
  ///     long-lived streams here (tell clients to reconnect elsewhere) so the drain need not wait
  ///     for them.
  public init(
    name: String,
    settings: ServerSettings,
    grpcServices: [any RegistrableRPCService],
    restRoutes: [RESTRoute],
    deviceEndpoints: [String: GatewayEndpoint] = [:],
    openAPIDocuments: [String],
    contracts: [FileContract],
    authenticator: (any Authenticator)?,
    backgroundServices: [any ServiceLifecycle.Service] = [],
    readiness: @escaping @Sendable () async -> Bool = { true },
    onDrain: @escaping @Sendable () -> Void = {},
    logger: Logger
  ) {
    self.onDrain = onDrain
    self.name = name
    self.settings = settings
    self.grpcServices = grpcServices
    self.restRoutes = restRoutes
    self.deviceEndpoints = deviceEndpoints
    self.openAPIDocuments = openAPIDocuments
    self.contracts = contracts
    self.authenticator = authenticator
    self.backgroundServices = backgroundServices
    self.readiness = readiness
    self.logger = logger
  }

  /// Serves until shut down; see the type's documentation. `onListening` is called once both
  /// servers listen, with their bound ports (a port 0 setting becomes the picked port).
  ///
  /// - Throws: `ConfigurationError` for a bad identity address, `GatewaySetupError` for conflicting
  ///   routes, or the error of a server that failed (a port in use, for instance).
  public func run(onListening: @escaping @Sendable (_ grpcPort: Int, _ httpPort: Int) async -> Void = { _, _ in }) async throws {
    let registry = ServiceMetrics.bootstrap()

    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    let authenticator: any Authenticator
    if let given = self.authenticator {
      authenticator = given
    } else if let address = settings.identityAddress {
      let (host, port) = try ServiceEnvironment.parseAddress(address, variable: "COURIER_IDENTITY_ADDRESS")
      let identity = try ServiceClient(host: host, port: port)
      services.append(.init(service: identity, serviceName: "identity-client"))
      // A short cache: a burst of calls costs one IsAuthenticated, and a revoked token stops
      // working here within 2 s of its revocation in Asgardian.
      authenticator = CachingAuthenticator(
        wrapping: IdentityServiceAuthenticator(client: identity.client), ttl: .seconds(2), negativeTTL: .seconds(2))
    } else {
      authenticator = RejectingAuthenticator()
    }
    for service in backgroundServices {
      services.append(.init(service: service))
    }

    // gRPC: the router built here so that health knows the registered service names.
    var router = RPCRouter<NGHTTP2ServerTransport>()
    for service in grpcServices { service.registerMethods(with: &router) }
    let served = Set(router.methods.map { $0.service.fullyQualifiedService })
    let health = HealthService(servingServices: served.sorted())
    health.registerMethods(with: &router)
    let interceptor = CourierServerInterceptor(contracts: contracts, authenticator: authenticator, logger: logger)
    router.registerInterceptors(pipeline: [.apply(interceptor, to: .all)])
    var transportConfig = NGHTTP2ServerTransport.Config.defaults
    transportConfig.connection.shutdownGracePeriod = settings.shutdownGrace
    let transport = NGHTTP2ServerTransport(address: .init(host: settings.grpcHost, port: settings.grpcPort), config: transportConfig)
    let grpcServer = GRPCServer(transport: transport, router: router)

    // HTTP: the gateway with /metrics.
    let draining = DrainingFlag()
    let readiness = self.readiness
    let core = try GatewayCore(
      routes: restRoutes,
      openAPIDocuments: openAPIDocuments,
      authenticator: authenticator,
      configuration: GatewayConfiguration(host: settings.httpHost, port: settings.httpPort),
      logger: logger,
      readiness: { [draining] in
        guard !draining.isSet else { return false }
        return await readiness()
      },
      endpoints: ["/metrics": { _ in Self.metricsResponse(registry) }],
      deviceEndpoints: deviceEndpoints
    )
    let (httpPorts, httpPortContinuation) = AsyncStream.makeStream(of: Int.self)
    let http = GatewayServer(core: core).application { port in
      httpPortContinuation.yield(port)
      httpPortContinuation.finish()
    }

    let drain = DrainOnShutdown(
      listening: { [logger, name] in
        guard let address = try? await transport.listeningAddress else { return }
        var iterator = httpPorts.makeAsyncIterator()
        guard let httpPort = await iterator.next() else { return }
        logger.info(
          "listening",
          metadata: [
            "server": .string(name),
            "grpc_port": .stringConvertible(address.port),
            "http_port": .stringConvertible(httpPort),
          ]
        )
        await onListening(address.port, httpPort)
      },
      drain: { [logger, onDrain] in
        logger.info("shutting down", metadata: ["grace": .string("\(settings.shutdownGrace)")])
        draining.set()
        onDrain()
        health.enterNotServing()
        grpcServer.beginGracefulShutdown()
      }
    )
    services.append(.init(service: GRPCServerService(server: grpcServer, health: health), serviceName: "grpc-server"))
    services.append(.init(service: http, serviceName: "http-server"))
    // Last, so that graceful shutdown reaches it first and starts draining gRPC at once.
    services.append(.init(service: drain, serviceName: "drain"))

    var configuration = ServiceGroupConfiguration(services: services, logger: logger)
    configuration.gracefulShutdownSignals = [.sigterm, .sigint]
    configuration.maximumGracefulShutdownDuration = settings.shutdownGrace
    let group = ServiceGroup(configuration: configuration)
    if control.attach(group) { await group.triggerGracefulShutdown() }
    defer { control.detach() }
    try await group.run()
  }

  /// Starts a graceful shutdown, as SIGTERM does. Before `run()` has started, it makes `run()`
  /// shut down as soon as it starts.
  public func shutdown() async {
    if let group = control.requestShutdown() { await group.triggerGracefulShutdown() }
  }

  static func metricsResponse(_ registry: PrometheusCollectorRegistry) -> GatewayResponse {
    GatewayResponse(
      status: 200,
      headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
      body: .bytes(ServiceMetrics.exposition(registry))
    )
  }
}
