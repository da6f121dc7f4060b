package import Generated
package import GRPCCore
internal import Synchronization

/// `grpc.health.v1.Health`: Check and Watch, with statuses set by the server's owner.
///
/// The server as a whole is the service named "". Register it next to the real services:
/// ```swift
/// let health = HealthService()
/// health.setStatus(.serving, forService: "courier.iris.v1.Iris")
/// let server = GRPCServer(transport: transport, services: [iris, health])
/// ```
package final class HealthService: Grpc_Health_V1_Health.ServiceProtocol, Sendable {
  public typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  private struct State {
    var statuses: [String: ServingStatus]
    var watchers: [String: [Int: AsyncStream<ServingStatus>.Continuation]] = [:]
    var nextWatcher = 0
  }

  private let state: Mutex<State>

  /// Starts with the server ("") SERVING and each named service SERVING.
  public init(servingServices: [String] = []) {
    var statuses: [String: ServingStatus] = ["": .serving]
    for service in servingServices { statuses[service] = .serving }
    self.state = Mutex(State(statuses: statuses))
  }

  /// Sets a service's status; watchers are told.
  public func setStatus(_ status: ServingStatus, forService service: String) {
    let watchers = self.state.withLock { state in
      state.statuses[service] = status
      return Array((state.watchers[service] ?? [:]).values)
    }
    for watcher in watchers { watcher.yield(status) }
  }

  /// Marks every service NOT_SERVING, e.g. when a graceful shutdown starts.
  public func enterNotServing() {
    let services = self.state.withLock { Array($0.statuses.keys) }
    for service in services { self.setStatus(.notServing, forService: service) }
  }

  public func check(
    request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>,
    context: ServerContext
  ) async throws -> ServerResponse<Grpc_Health_V1_HealthCheckResponse> {
    let service = request.message.service
    guard let status = self.state.withLock({ $0.statuses[service] }) else {
      throw RPCError(code: .notFound, message: "Unknown service '\(service)'")
    }
    var response = Grpc_Health_V1_HealthCheckResponse()
    response.status = status
    return ServerResponse(message: response)
  }

  public func watch(
    request: ServerRequest<Grpc_Health_V1_HealthCheckRequest>,
    context: ServerContext
  ) async throws -> StreamingServerResponse<Grpc_Health_V1_HealthCheckResponse> {
    let service = request.message.service
    let (updates, continuation) = AsyncStream.makeStream(of: ServingStatus.self)
    let id = self.state.withLock { state in
      let id = state.nextWatcher
      state.nextWatcher += 1
      state.watchers[service, default: [:]][id] = continuation
      continuation.yield(state.statuses[service] ?? .serviceUnknown)
      return id
    }
    return StreamingServerResponse { writer in
      defer {
        _ = self.state.withLock { $0.watchers[service]?.removeValue(forKey: id) }
      }
      try await withThrowingDiscardingTaskGroup { group in
        // The watch ends when the RPC is cancelled (the client went away, or shutdown).
        group.addTask {
          _ = try? await context.cancellation.cancelled
          continuation.finish()
        }
        var last: ServingStatus?
        for await status in updates where status != last {
          last = status
          var response = Grpc_Health_V1_HealthCheckResponse()
          response.status = status
          try await writer.write(response)
        }
        group.cancelAll()
      }
      return [:]
    }
  }
}
