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
    let result = try await run(.query(query), file: file, line: line) { raw throws(PostgresError) in
      try raw.execute(query)
    }
    return PostgresRows(result: result, statement: query.sql)
  }

  /// Runs several statements in one round trip (libpq pipeline mode) and returns each one's rows,
  /// in order. They run one after the other on the server, as separate calls would; if one fails,
  /// it throws (located at it) and the ones after it do not run.
  public func query(
    all queries: [PostgresQuery], file: String = #fileID, line: Int = #line
  ) async throws -> [PostgresRows] {
    guard let first = queries.first else { return [] }
    let results = try await run(queries.map { .query($0) }, sql: first.sql, file: file, line: line) {
      raw throws(PostgresError) in try raw.execute(first)  // one query alone
    }
    return zip(results, queries).map { PostgresRows(result: $0, statement: $1.sql) }
  }

  /// Runs a statement and returns the number of rows it inserted, updated, deleted or selected.
  @discardableResult
  public func execute(
    _ query: PostgresQuery, file: String = #fileID, line: Int = #line
  ) async throws -> Int {
    try await self.query(query, file: file, line: line).affectedRows
  }

  /// Simple-query protocol, internal only (transaction control, migration files). `single`: the
  /// text is one command, which may then travel in one pipeline with deferred statements.
  func simple(
    _ sql: String, single: Bool = false, cancellable: Bool = true, file: String = #fileID, line: Int = #line
  ) async throws {
    _ = try await run(single ? [.command(sql)] : [], sql: sql, cancellable: cancellable, file: file, line: line) {
      raw throws(PostgresError) in try raw.executeSimple(sql)
    }
  }

  // MARK: Deferred statements

  /// A statement waiting to travel with the next one (``PostgresTransaction/enqueue(_:file:line:)``,
  /// or a transaction's BEGIN).
  struct Deferred: Sendable {
    var item: LibPQConnection.PipelineItem
    var isBegin: Bool
    var file: String
    var line: Int
  }

  /// Queues `item` to be sent, in one pipeline, before the next statement that runs.
  func deferStatement(_ item: LibPQConnection.PipelineItem, isBegin: Bool = false, file: String, line: Int) throws {
    if let refusal = state.withLock({ $0.refusal }) {
      throw PostgresError(code: refusal.code, message: refusal.message, statement: item.sql, file: file, line: line)
    }
    deferred.withLock { $0.append(Deferred(item: item, isBegin: isBegin, file: file, line: line)) }
  }

  /// Sends the deferred statements now, in one round trip, instead of with the next statement.
  /// Does nothing when none waits. Errors are located where the failing statement was deferred.
  func sendDeferred() async throws {
    guard let last = deferred.withLock({ $0.popLast() }) else { return }
    _ = try await run([last.item], sql: last.item.sql, file: last.file, line: last.line) { raw throws(PostgresError) in
      switch raw.pipeline([last.item], keeping: 1) {
      case .success(let results): return results[0]
      case .failure(let failure): throw failure.error
      }
    }
  }

  /// Drops the deferred statements. Returns true when they began with a BEGIN: then nothing of
  /// the transaction has reached the server, and there is nothing to roll back.
  func discardDeferred() -> Bool {
    deferred.withLock { queue in
      defer { queue.removeAll() }
      return queue.first?.isBegin == true
    }
  }

  /// Whether nothing but a BEGIN waits: a transaction that ran no statement.
  var onlyBeginDeferred: Bool { deferred.withLock { $0.count == 1 && $0[0].isBegin } }

  private let deferred = Mutex<[Deferred]>([])

  private func run(
    _ item: LibPQConnection.PipelineItem, cancellable: Bool = true, file: String, line: Int,
    _ work: @escaping @Sendable (LibPQConnection) throws(PostgresError) -> PGResultBox
  ) async throws -> PGResultBox {
    try await run([item], sql: item.sql, cancellable: cancellable, file: file, line: line, work)[0]
  }

  /// Runs `items` and returns their results in order. Statements that wait go first, in one
  /// pipeline with `items`; with none waiting, one item runs alone through `work`, several in one
  /// pipeline. With no items, the waiting statements go first, on their own, then `work` runs (the
  /// simple-query protocol cannot join a pipeline), and its result is the one returned.
  private func run(
    _ items: [LibPQConnection.PipelineItem], sql statement: String, cancellable: Bool = true, file: String, line: Int,
    _ work: @escaping @Sendable (LibPQConnection) throws(PostgresError) -> PGResultBox
  ) async throws -> [PGResultBox] {
    switch state.withLock({ $0.startStatement() }) {
    case .execute: break
    case .fail(let code, let message):
      throw PostgresError(code: code, message: message, statement: statement, file: file, line: line)
    }
    let queued = deferred.withLock { queue in
      defer { queue.removeAll() }
      return queue
    }
    let raw = self.raw
    // Errors come back located: at the deferred statement that raised one, else at this one.
    let perform = { @Sendable () -> Result<[PGResultBox], PostgresError> in
      if !queued.isEmpty || items.count > 1 {
        switch raw.pipeline(queued.map(\.item) + items, keeping: items.count) {
        case .success(let results) where !items.isEmpty: return .success(results)
        case .success: break
        case .failure(let failure) where failure.index < queued.count:
          let origin = queued[failure.index]
          return .failure(failure.error.located(statement: origin.item.sql, file: origin.file, line: origin.line))
        case .failure(let failure):
          let failed = items[failure.index - queued.count].sql
          return .failure(failure.error.located(statement: failed, file: file, line: line))
        }
      }
      do throws(PostgresError) {
        return .success([try work(raw)])
      } catch {
        return .failure(error.located(statement: statement, file: file, line: line))
      }
    }
    let execute = { () async -> Result<[PGResultBox], PostgresError> in
      // The usual case inside withConnection: we already run on the connection's own thread.
      if raw.thread.isCurrent { return perform() }
      return await raw.thread.run(perform)
    }
    let outcome: Result<[PGResultBox], PostgresError>
    if cancellable {
      outcome = await withTaskCancellationHandler(operation: execute, onCancel: { raw.cancel() })
    } else {
      outcome = await execute()
    }
    switch outcome {
    case .success(let results):
      finish(usable: true)
      return results
    case .failure(let error):
      finish(usable: !error.breaksConnection)
      throw error
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
      let reusable = machine.isReusable && raw.isIdleOutsideTransaction && deferred.withLock(\.isEmpty)
      switch machine.close() {
      case .closeNow: return (reusable, true)
      case .closeWhenStatementEnds: return (false, false)
      case .alreadyClosed: return (false, false)
      }
    }
  }

  var isInFailedTransaction: Bool { raw.isInFailedTransaction }
}
