public import Logging
internal import Synchronization

/// A bounded pool of libpq connections; the entry point of the module.
///
/// ```swift
/// let pool = PostgresPool(configuration: .init(connectionString: url))
/// defer { Task { await pool.close() } }
/// let rows = try await pool.query("SELECT id, title FROM hermes.payloads WHERE owner = \(userID)")
/// try await pool.withTransaction(isolation: .serializable) { tx in ... }
/// ```
///
/// Connections are opened on demand up to `maxConnections`; callers beyond that wait in FIFO order
/// for at most `waitTimeout` and then fail with `.poolTimeout`. An idle connection is checked
/// (without blocking) before it is handed out, so connections broken by a server restart are
/// dropped and replaced instead of failing the next statement. Call ``close()`` when done.
public final class PostgresPool: Sendable {
  public let configuration: PostgresConfiguration
  let logger: Logger
  private let state: Mutex<State>

  private struct State: ~Copyable {
    var machine: PoolStateMachine<LibPQConnection>
    var continuations: [Int: CheckedContinuation<PoolStateMachine<LibPQConnection>.Grant, any Error>] = [:]
    var timeouts: [Int: Task<Void, Never>] = [:]
    var nextWaiterID = 0
    var nextConnectionID = 0
  }

  public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "courier.postgres")) {
    self.configuration = configuration
    self.logger = logger
    self.state = Mutex(State(machine: PoolStateMachine(maxConnections: configuration.pool.maxConnections)))
  }

  /// Leases a connection for the duration of `body`. The connection goes back to the pool when
  /// `body` returns; if it is mid-transaction or broken it is closed instead.
  @discardableResult
  public func withConnection<T>(
    isolation: isolated (any Actor)? = #isolation,
    file: String = #fileID, line: Int = #line,
    _ body: (PostgresConnection) async throws -> T
  ) async throws -> T {
    let raw: LibPQConnection
    do {
      raw = try await lease()
    } catch let error as PostgresError {
      throw error.located(statement: nil, file: file, line: line)
    }
    let connection = PostgresConnection(raw: raw)
    // Released on the connection's thread, before the task hops back: a waiter gets the connection
    // even while the cooperative pool is busy.
    return try await withTaskExecutorPreference(raw.thread) {
      defer { release(connection) }
      return try await body(connection)
    }
  }

  /// Runs one statement on a pooled connection and returns its rows.
  @discardableResult
  public func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRows {
    try await withConnection(file: file, line: line) { try await $0.query(query, file: file, line: line) }
  }

  /// Runs one statement on a pooled connection and returns the number of rows it affected.
  @discardableResult
  public func execute(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> Int {
    try await withConnection(file: file, line: line) { try await $0.execute(query, file: file, line: line) }
  }

  /// Closes idle connections (and their threads) and fails waiters with `.poolClosed`.
  /// Connections in use are closed when they come back.
  public func close() async {
    let (idle, waiters) = state.withLock { $0.machine.close() }
    for connection in idle { connection.close() }
    for id in waiters {
      resume(id, with: .failure(PostgresError(code: .poolClosed, message: "the pool was closed")))
    }
  }

  // MARK: Leasing

  private func lease() async throws -> LibPQConnection {
    var grant = try await acquireSlot()
    while true {
      switch grant {
      case .connection(let connection):
        if connection.isHealthy() { return connection }
        logger.info("dropping a broken idle connection", metadata: ["connection": "\(connection.id)"])
        connection.close()
        grant = .create  // keep the slot and open a replacement
      case .create:
        do {
          return try await open()
        } catch {
          if let waiter = state.withLock({ $0.machine.slotFreed() }) {
            resume(waiter, with: .success(.create))
          }
          throw error
        }
      }
    }
  }

  private func acquireSlot() async throws -> PoolStateMachine<LibPQConnection>.Grant {
    let id = state.withLock { state in
      state.nextWaiterID += 1
      return state.nextWaiterID
    }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        let action = state.withLock { state in
          let action = state.machine.lease(waiterID: id)
          if case .wait = action { state.continuations[id] = continuation }
          return action
        }
        switch action {
        case .use(let connection): continuation.resume(returning: .connection(connection))
        case .create: continuation.resume(returning: .create)
        case .failClosed:
          continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the pool is closed"))
        case .wait:
          let timeout = configuration.pool.waitTimeout
          let maxConnections = configuration.pool.maxConnections
          let task = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            self?.giveUp(
              id,
              error: PostgresError(
                code: .poolTimeout,
                message: "no connection became free within \(timeout) (all \(maxConnections) in use)"))
          }
          state.withLock { state in
            if state.continuations[id] != nil { state.timeouts[id] = task } else { task.cancel() }
          }
        }
      }
    } onCancel: {
      giveUp(id, error: CancellationError())
    }
  }

  private func giveUp(_ id: Int, error: any Error) {
    let removed = state.withLock { $0.machine.cancelWaiter(id) }
    if removed { resume(id, with: .failure(error)) }
  }

  private func resume(_ id: Int, with result: Result<PoolStateMachine<LibPQConnection>.Grant, any Error>) {
    let (continuation, timeout) = state.withLock { state in
      (state.continuations.removeValue(forKey: id), state.timeouts.removeValue(forKey: id))
    }
    timeout?.cancel()
    continuation?.resume(with: result)
  }

  private func open() async throws -> LibPQConnection {
    let id = state.withLock { state in
      state.nextConnectionID += 1
      return state.nextConnectionID
    }
    let configuration = self.configuration
    let thread = ConnectionThread(name: "courier-pg-\(id)")
    let outcome = await thread.run { () -> Result<LibPQConnection, PostgresError> in
      do throws(PostgresError) {
        return .success(try LibPQConnection.connect(configuration, id: id, thread: thread))
      } catch {
        return .failure(error)
      }
    }
    if case .failure = outcome { thread.stop() }
    let connection = try outcome.get()
    logger.debug("opened a connection", metadata: ["connection": "\(id)"])
    return connection
  }

  private func release(_ connection: PostgresConnection) {
    let (reusable, poolCloses) = connection.detach()
    let raw = connection.raw
    let action = state.withLock { $0.machine.release(raw, reusable: reusable) }
    switch action {
    case .park:
      break
    case .handOver(let raw, let waiter):
      resume(waiter, with: .success(.connection(raw)))
    case .close(let raw):
      if poolCloses { raw.close() }
    case .closeAndGrantCreate(let raw, let waiter):
      if poolCloses { raw.close() }
      resume(waiter, with: .success(.create))
    }
  }
}
