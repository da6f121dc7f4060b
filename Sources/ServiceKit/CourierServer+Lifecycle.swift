import GRPCCore
import Health
import ServiceLifecycle
import Synchronization
import Transport

// The pieces of `CourierServer.run()`'s service group.

/// Set once the server starts draining; `/readyz` answers 503 from then on.
final class DrainingFlag: Sendable {
  private let value = Atomic<Bool>(false)

  var isSet: Bool { value.load(ordering: .relaxed) }

  func set() { value.store(true, ordering: .relaxed) }
}

/// Lets `shutdown()` reach the group that `run()` made.
final class ShutdownControl: Sendable {
  private struct State {
    var group: ServiceGroup?
    var requested = false
  }

  private let state = Mutex(State())

  /// Remembers the group; true when a shutdown was already requested.
  func attach(_ group: ServiceGroup) -> Bool {
    state.withLock { state in
      state.group = group
      return state.requested
    }
  }

  func detach() {
    state.withLock { $0.group = nil }
  }

  /// The running group, if any; a shutdown requested before `run()` is remembered.
  func requestShutdown() -> ServiceGroup? {
    state.withLock { state in
      state.requested = true
      return state.group
    }
  }
}

/// Runs a `GRPCServer` as a service: graceful shutdown turns health NOT_SERVING and stops the
/// server gracefully; `serve()` returns once in-flight calls are done or the transport's grace
/// period has passed.
struct GRPCServerService: ServiceLifecycle.Service {
  let server: GRPCServer<NGHTTP2ServerTransport>
  let health: HealthService

  func run() async throws {
    try await withGracefulShutdownHandler {
      try await server.serve()
    } onGracefulShutdown: {
      health.enterNotServing()
      server.beginGracefulShutdown()
    }
    // `DrainOnShutdown` stops the server before the group reaches this service; returning before
    // the group asks would count as an unexpected exit.
    try? await gracefulShutdown()
  }
}

/// The last service of the group: reports the bound ports, then waits for graceful shutdown and,
/// being shut down first, starts draining gRPC while the HTTP server is still closing.
struct DrainOnShutdown: ServiceLifecycle.Service {
  let listening: @Sendable () async -> Void
  let drain: @Sendable () -> Void

  func run() async throws {
    // Unstructured: the gRPC address cannot be awaited with cancellation.
    let report = Task { await listening() }
    try? await gracefulShutdown()
    report.cancel()
    drain()
  }
}
