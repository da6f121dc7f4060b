import ContractRuntime
import Foundation
import Gateway
import Generated
import GRPCCore
import Logging
import ServiceKit
import Testing
import Transport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `CourierServer` running on loopback with free ports, for one test.
struct RunningServer {
  let server: CourierServer
  let grpcPort: Int
  let httpPort: Int
  let task: Task<Void, any Error>

  /// Shuts the server down and waits for `run()` to return.
  func stop() async throws {
    await server.shutdown()
    try await task.value
  }
}

enum Harness {
  static let quietLogger = Logger(label: "servicekit-tests") { _ in SwiftLogNoOpLogHandler() }

  static func settings(grace: Duration = .seconds(5), identity: String? = nil) throws -> ServerSettings {
    var values = ["T_GRPC_PORT": "0", "T_HTTP_PORT": "0", "T_SHUTDOWN_GRACE": "\(grace.components.seconds * 1_000 + grace.components.attoseconds / 1_000_000_000_000_000)ms"]
    if let identity { values["COURIER_IDENTITY_ADDRESS"] = identity }
    return try ServerSettings(prefix: "T", defaultGRPCPort: 1, defaultHTTPPort: 1, environment: ServiceEnvironment(values))
  }

  /// The four Iris test services, with the REST routes of PushSubscriptionService.
  static func irisServer(
    settings: ServerSettings,
    authenticator: (any Authenticator)?,
    slowStarted: AsyncStream<Void>.Continuation? = nil,
    slowDuration: Duration = .milliseconds(1_500)
  ) -> CourierServer {
    let push = TestPushSubscriptionService()
    return CourierServer(
      name: "iris-test",
      settings: settings,
      grpcServices: [
        TestNotificationService(slowStarted: slowStarted, slowDuration: slowDuration), push,
        TestLiveNotificationService(), TestDeliveryLogService(),
      ],
      restRoutes: Courier_Iris_V1_PushSubscriptionService_REST.routes(for: push),
      openAPIDocuments: [Courier_Iris_V1_PushSubscriptionService_REST.openAPIDocument],
      contracts: CourierContracts.files,
      authenticator: authenticator,
      logger: quietLogger
    )
  }

  /// Starts the server and waits until both ports listen.
  static func start(_ server: CourierServer) async throws -> RunningServer {
    let (ports, continuation) = AsyncStream.makeStream(of: (Int, Int).self)
    let task = Task {
      defer { continuation.finish() }
      try await server.run { grpcPort, httpPort in continuation.yield((grpcPort, httpPort)) }
    }
    var iterator = ports.makeAsyncIterator()
    guard let (grpcPort, httpPort) = await iterator.next() else {
      try await task.value
      throw HarnessError(message: "the CourierServer returned without listening")
    }
    return RunningServer(server: server, grpcPort: grpcPort, httpPort: httpPort, task: task)
  }

  /// Runs `body` with a client of our nghttp2 transport connected to `port`.
  static func withClient<Result: Sendable>(
    port: Int,
    _ body: (GRPCClient<NGHTTP2ClientTransport>) async throws -> Result
  ) async throws -> Result {
    let transport = try NGHTTP2ClientTransport(target: .init(host: "127.0.0.1", port: port))
    return try await withGRPCClient(transport: transport) { client in try await body(client) }
  }

  /// A GET over HTTP/1.1: status and body text.
  static func get(port: Int, path: String, headers: [String: String] = [:]) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let status = (response as? HTTPURLResponse)?.statusCode ?? 0
    return (status, String(decoding: data, as: UTF8.self))
  }

  /// The value of the Prometheus sample `name` whose labels include all of `labels`, if any.
  static func sample(_ exposition: String, _ name: String, _ labels: [String: String]) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
      guard let space = line.lastIndex(of: " ") else { continue }
      let head = line[..<space]
      if labels.allSatisfy({ head.contains("\($0.key)=\"\($0.value)\"") }) {
        return Double(line[line.index(after: space)...])
      }
    }
    return nil
  }
}

struct HarnessError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}
