public import GRPCCore
public import ServiceLifecycle
public import Transport

/// A gRPC client of another Courier service over our nghttp2 transport (h2c), whose connections
/// run as a swift-service-lifecycle service: put it in the same `ServiceGroup` (or
/// `CourierServer`'s `backgroundServices`) as the code that calls it, before that code so that it
/// is shut down after it.
public struct ServiceClient: ServiceLifecycle.Service {
  public let client: GRPCClient<NGHTTP2ClientTransport>

  /// - Throws: when the transport cannot be set up.
  public init(host: String, port: Int) throws {
    let transport = try NGHTTP2ClientTransport(target: .init(host: host, port: port))
    self.client = GRPCClient(transport: transport)
  }

  /// Runs the client's connections until graceful shutdown (in-flight calls finish, new ones fail)
  /// or cancellation.
  public func run() async throws {
    try await withGracefulShutdownHandler {
      try await client.runConnections()
    } onGracefulShutdown: {
      client.beginGracefulShutdown()
    }
  }
}
