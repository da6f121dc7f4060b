internal import Synchronization

/// A connection leased from a ``PostgresPool``; valid only inside the closure it was passed to.
///
/// Statements run one at a time on the connection's own thread, where libpq blocks until the
/// whole result is in memory. Inside `withConnection` the body normally already runs on that
/// thread (task executor preference), so a statement costs no hand-off; code isolated to an actor
/// hands each statement over and awaits it. Starting a second statement while one runs fails with
/// `.connectionBusy`. Cancelling the task cancels the statement in flight on the server (it fails
/// with SQLSTATE 57014); a cancellation that arrives before the statement was sent does not stop
/// it. Use `statement_timeout` to bound statements. Code that runs on the connection's thread shares it with the blocking statements:
/// do not wait there for work that needs this same thread.
public final class PostgresConnection: Sendable {
  let raw: LibPQConnection
  private let state = Mutex(ConnectionStateMachine())

  init(raw: LibPQConnection) {
    self.raw = raw
  }

  /// Runs a statement and returns its rows.
  @discardableResult
  public func query(
    _ query: PostgresQuery, file: String = #fileID, line: Int = #line
  ) async throws -> PostgresRows {
    let result = try await run(query.sql, file: file, line: line) { raw throws(PostgresError) in
      try raw.execute(query)
    }
    return PostgresRows(result: result, statement: query.sql)
  }

  /// Runs a statement and returns the number of rows it inserted, updated, deleted or selected.
  @discardableResult
  public func execute(
    _ query: PostgresQuery, file: String = #fileID, line: Int = #line
  ) async throws -> Int {
    try await self.query(query, file: file, line: line).affectedRows
  }

  /// Simple-query protocol, internal only (transaction control, migration files).
  func simple(
    _ sql: String, cancellable: Bool = true, file: String = #fileID, line: Int = #line
  ) async throws {
    _ = try await run(sql, cancellable: cancellable, file: file, line: line) { raw throws(PostgresError) in
      try raw.executeSimple(sql)
    }
  }

  private func run(
    _ statement: String, cancellable: Bool = true, file: String, line: Int,
    _ work: @escaping @Sendable (LibPQConnection) throws(PostgresError) -> PGResultBox
  ) async throws -> PGResultBox {
    switch state.withLock({ $0.startStatement() }) {
    case .execute: break
    case .fail(let code, let message):
      throw PostgresError(code: code, message: message, statement: statement, file: file, line: line)
    }
    let raw = self.raw
    let execute = { () async -> Result<PGResultBox, PostgresError> in
      if raw.thread.isCurrent {
        // The usual case inside withConnection: we already run on the connection's own thread.
        do throws(PostgresError) { return .success(try work(raw)) } catch { return .failure(error) }
      }
      return await raw.thread.run { () -> Result<PGResultBox, PostgresError> in
        do throws(PostgresError) { return .success(try work(raw)) } catch { return .failure(error) }
      }
    }
    let outcome: Result<PGResultBox, PostgresError>
    if cancellable {
      outcome = await withTaskCancellationHandler(operation: execute, onCancel: { raw.cancel() })
    } else {
      outcome = await execute()
    }
    switch outcome {
    case .success(let result):
      finish(usable: true)
      return result
    case .failure(let error):
      finish(usable: !error.breaksConnection)
      throw error.located(statement: statement, file: file, line: line)
    }
  }

  private func finish(usable: Bool) {
    if state.withLock({ $0.statementFinished(connectionUsable: usable) }) == .close {
      raw.close()
    }
  }

  /// Ends the lease. Returns whether the pool may reuse the connection, and whether the pool
  /// must close it (false when a statement still runs and will close it when it ends).
  func detach() -> (reusable: Bool, poolCloses: Bool) {
    state.withLock { machine in
      let reusable = machine.isReusable && raw.isIdleOutsideTransaction
      switch machine.close() {
      case .closeNow: return (reusable, true)
      case .closeWhenStatementEnds: return (false, false)
      case .alreadyClosed: return (false, false)
      }
    }
  }

  var isInFailedTransaction: Bool { raw.isInFailedTransaction }
}
