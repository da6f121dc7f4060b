import ContractRuntime
package import Gateway
import Generated
package import Logging

/// The sample services mounted on a gateway, as the tests and the benchmark use them.
package enum SampleGateway {
  /// A gateway core with TrackingService and DeliveryAdminService over a seeded store, and the
  /// static test tokens (`user-token`, `admin-token`, `deliverer-token`).
  package static func core(
    store: SampleStore = .seeded(),
    configuration: GatewayConfiguration = .defaults,
    logger: Logger = Logger(label: "courier.gateway.sample"),
    authenticator: (any Authenticator)? = nil
  ) throws -> GatewayCore {
    let routes = Courier_Hermes_V1_TrackingService_REST.routes(for: SampleTrackingService(store: store))
      + Courier_Hermes_V1_DeliveryAdminService_REST.routes(for: SampleDeliveryAdminService(store: store))
    return try GatewayCore(
      routes: routes,
      openAPIDocuments: [
        Courier_Hermes_V1_TrackingService_REST.openAPIDocument,
        Courier_Hermes_V1_DeliveryAdminService_REST.openAPIDocument,
      ],
      authenticator: authenticator ?? CachingAuthenticator(wrapping: StaticTokenAuthenticator(SampleTokens.table)),
      configuration: configuration,
      logger: logger
    )
  }
}
