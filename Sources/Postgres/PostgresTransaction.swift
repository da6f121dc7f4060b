internal import Logging

/// The isolation level a transaction starts with.
public enum PostgresIsolationLevel: Sendable, Hashable {
  case readCommitted
  case repeatableRead
  case serializable

  var beginStatement: String {
    switch self {
    case .readCommitted: "BEGIN ISOLATION LEVEL READ COMMITTED"
    case .repeatableRead: "BEGIN ISOLATION LEVEL REPEATABLE READ"
    case .serializable: "BEGIN ISOLATION LEVEL SERIALIZABLE"
    }
  }
}

/// How often ``PostgresPool/withTransaction(isolation:retry:file:line:_:)`` runs a transaction
/// again after a retriable error (serialization failure 40001, deadlock 40P01, lost connection).
public struct PostgresRetryPolicy: Sendable {
  /// Total attempts, including the first.
  public var maxAttempts: Int
  /// Wait before the second attempt; doubled for each further one, with jitter.
  public var initialBackoff: Duration
  public var maxBackoff: Duration

  public init(maxAttempts: Int, initialBackoff: Duration, maxBackoff: Duration) {
    self.maxAttempts = max(1, maxAttempts)
    self.initialBackoff = initialBackoff
    self.maxBackoff = maxBackoff
  }

  public static var defaults: Self { Self(maxAttempts: 5, initialBackoff: .milliseconds(2), maxBackoff: .milliseconds(200)) }
  /// Run once; never retry.
  public static var never: Self { Self(maxAttempts: 1, initialBackoff: .zero, maxBackoff: .zero) }

  func backoff(afterAttempt attempt: Int) -> Duration {
    var wait = initialBackoff
    for _ in 1..<max(1, attempt) where wait < maxBackoff { wait = wait * 2 }
    wait = min(wait, maxBackoff)
    return wait * Double.random(in: 0.5...1.0)
  }
}

/// An open transaction: the statements of ``PostgresPool/withTransaction(isolation:retry:file:line:_:)``'s
/// body run through it, on one connection.
public struct PostgresTransaction: Sendable {
  /// The connection the transaction runs on (for advisory locks and the like).
  public let connection: PostgresConnection

  @discardableResult
  public func query(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> PostgresRows {
    try await connection.query(query, file: file, line: line)
  }

  /// Runs several statements in one round trip, together with any queued ones, and returns each
  /// one's rows in order (``PostgresConnection/query(all:file:line:)``).
  public func query(all queries: [PostgresQuery], file: String = #fileID, line: Int = #line) async throws -> [PostgresRows] {
    try await connection.query(all: queries, file: file, line: line)
  }

  @discardableResult
  public func execute(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) async throws -> Int {
    try await connection.execute(query, file: file, line: line)
  }

  /// Queues a statement whose result the body does not need. It is sent together with the
  /// transaction's next statement, or with its COMMIT, in one round trip (libpq pipeline mode),
  /// and runs before it. If it fails, that next statement (or the commit) throws its error,
  /// located here, and the transaction rolls back as usual. Throws now only when the connection
  /// is unusable.
  public func enqueue(_ query: PostgresQuery, file: String = #fileID, line: Int = #line) throws {
    try connection.deferStatement(.query(query), file: file, line: line)
  }

  /// Sends the queued statements now, in one round trip, instead of with the next statement or
  /// the COMMIT: for a body that has other work to wait for meanwhile. That work must run in a task
  /// of its own that does not prefer the connection's thread, since a statement holds the thread
  /// while it runs. If a queued statement fails, this throws its error, located where it was queued.
  public func sendQueued() async throws {
    try await connection.sendDeferred()
  }
}

extension PostgresPool {
  /// Runs `body` in a transaction and commits it; rolls back if `body` throws.
  ///
  /// When the transaction fails with a retriable error (``PostgresError/isRetriable``: 40001,
  /// 40P01, a lost connection before COMMIT) the whole body runs again, on a fresh transaction,
  /// up to `retry.maxAttempts` times, so `body` must not have effects outside the database. A
  /// connection lost during COMMIT is not retried: it fails with `.commitOutcomeUnknown`.
  @discardableResult
  public func withTransaction<T>(
    isolation level: PostgresIsolationLevel = .readCommitted,
    retry: PostgresRetryPolicy = .defaults,
    file: String = #fileID, line: Int = #line,
    _ body: (PostgresTransaction) async throws -> T
  ) async throws -> T {
    var attempt = 1
    while true {
      do {
        return try await withConnection(file: file, line: line) { connection in
          try await connection.transaction(isolation: level, file: file, line: line, body)
        }
      } catch let error as PostgresError where error.isRetriable && attempt < retry.maxAttempts {
        logger.debug(
          "retrying transaction",
          metadata: ["attempt": "\(attempt)", "sqlstate": "\(error.sqlState ?? "-")", "code": "\(error.code)"])
        try await Task.sleep(for: retry.backoff(afterAttempt: attempt))
        attempt += 1
      }
    }
  }
}

extension PostgresConnection {
  /// Runs `body` in a transaction on this connection (no retry: see `PostgresPool.withTransaction`).
  @discardableResult
  public func transaction<T>(
    isolation level: PostgresIsolationLevel = .readCommitted,
    file: String = #fileID, line: Int = #line,
    _ body: (PostgresTransaction) async throws -> T
  ) async throws -> T {
    // BEGIN travels with the first statement (or not at all, when the body runs none).
    try deferStatement(.command(level.beginStatement), isBegin: true, file: file, line: line)
    let result: T
    do {
      result = try await body(PostgresTransaction(connection: self))
    } catch {
      await rollbackQuietly(file: file, line: line)
      throw error
    }
    if isInFailedTransaction {
      await rollbackQuietly(file: file, line: line)
      throw PostgresError(
        code: .server, sqlState: "25P02",
        message: "the transaction was aborted by an earlier error that the body caught; it was rolled back",
        statement: "COMMIT", file: file, line: line)
    }
    if onlyBeginDeferred {
      _ = discardDeferred()
      return result
    }
    do {
      try await simple("COMMIT", single: true, cancellable: false, file: file, line: line)
    } catch var error as PostgresError {
      if error.code == .connectionLost {
        error.code = .commitOutcomeUnknown
        error.message = "connection lost during COMMIT; the transaction may or may not have been applied: \(error.message)"
      } else if isInFailedTransaction {
        // A statement deferred to the commit failed, so COMMIT never ran.
        await rollbackQuietly(file: file, line: line)
      }
      throw error
    }
    return result
  }

  private func rollbackQuietly(file: String, line: Int) async {
    if discardDeferred() { return }
    try? await simple("ROLLBACK", single: true, cancellable: false, file: file, line: line)
  }

  // MARK: Advisory locks

  /// Takes a session-level advisory lock, waiting for it (`pg_advisory_lock`).
  public func advisoryLock(_ key: Int64, file: String = #fileID, line: Int = #line) async throws {
    try await query("SELECT pg_advisory_lock(\(key))", file: file, line: line)
  }

  /// Takes a session-level advisory lock if it is free (`pg_try_advisory_lock`).
  public func tryAdvisoryLock(_ key: Int64, file: String = #fileID, line: Int = #line) async throws -> Bool {
    try await query("SELECT pg_try_advisory_lock(\(key))", file: file, line: line)[0].decode(Bool.self, at: 0)
  }

  /// Releases a session-level advisory lock; false if this session did not hold it.
  @discardableResult
  public func advisoryUnlock(_ key: Int64, file: String = #fileID, line: Int = #line) async throws -> Bool {
    try await query("SELECT pg_advisory_unlock(\(key))", file: file, line: line)[0].decode(Bool.self, at: 0)
  }
}

extension PostgresTransaction {
  /// Takes a transaction-level advisory lock, released at COMMIT or ROLLBACK (`pg_advisory_xact_lock`).
  public func advisoryLock(_ key: Int64, file: String = #fileID, line: Int = #line) async throws {
    try await query("SELECT pg_advisory_xact_lock(\(key))", file: file, line: line)
  }

  /// Takes a transaction-level advisory lock if it is free (`pg_try_advisory_xact_lock`).
  public func tryAdvisoryLock(_ key: Int64, file: String = #fileID, line: Int = #line) async throws -> Bool {
    try await query("SELECT pg_try_advisory_xact_lock(\(key))", file: file, line: line)[0].decode(Bool.self, at: 0)
  }
}
