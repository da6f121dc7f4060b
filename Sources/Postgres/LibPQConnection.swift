internal import CLibPQ
internal import Synchronization

#if canImport(Glibc)
  internal import Glibc
#elseif canImport(Darwin)
  internal import Darwin
#endif

/// One libpq connection, used in blocking mode from one thread at a time.
///
/// Every blocking call (`connect`, `execute`, `executeSimple`) runs on the pool's thread pool,
/// never on a NIO event loop or a Swift concurrency thread. `isHealthy()` and `close()` do not
/// block. Callers guarantee exclusive use (a connection is leased to one owner at a time and its
/// ``ConnectionStateMachine`` rejects a second statement while one runs).
final class LibPQConnection: @unchecked Sendable {
  fileprivate let conn: OpaquePointer
  private var statementNames: [StatementKey: String] = [:]
  private var preparedCount = 0
  private var closed = false
  let id: Int
  /// The thread this connection's blocking calls run on.
  let thread: ConnectionThread
  /// libpq's cancel handle; `PQcancel` may be called from any thread, until `close` frees it.
  private let cancelHandle: Mutex<CancelHandle>

  /// A `PGcancel *`, only touched under `cancelHandle`'s lock.
  private struct CancelHandle: @unchecked Sendable {
    var pointer: OpaquePointer?
  }

  private struct StatementKey: Hashable {
    var sql: String
    var types: [UInt32]
  }

  private init(conn: OpaquePointer, id: Int, thread: ConnectionThread) {
    self.conn = conn
    self.id = id
    self.thread = thread
    self.cancelHandle = Mutex(CancelHandle(pointer: PQgetCancel(conn)))
  }

  deinit { close() }

  /// Opens a connection (blocking), owned by `thread`; call it on that thread.
  static func connect(
    _ configuration: PostgresConfiguration, id: Int, thread: ConnectionThread
  ) throws(PostgresError) -> LibPQConnection {
    var keywords = ["dbname", "connect_timeout", "application_name", "keepalives", "keepalives_idle"]
    var values = [
      configuration.connectionString, String(configuration.connectTimeoutSeconds),
      configuration.applicationName, "1", "30",
    ]
    if let password = configuration.password {
      keywords.append("password")
      values.append(password)
    }
    let cKeywords = keywords.map { strdup($0) }
    let cValues = values.map { strdup($0) }
    defer {
      cKeywords.forEach { free($0) }
      cValues.forEach { free($0) }
    }
    let keywordPointers = cKeywords.map { UnsafePointer($0) } + [nil]
    let valuePointers = cValues.map { UnsafePointer($0) } + [nil]
    guard let conn = PQconnectdbParams(keywordPointers, valuePointers, 1) else {
      throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
    }
    guard PQstatus(conn) == CONNECTION_OK else {
      let message = Self.trimmed(PQerrorMessage(conn))
      PQfinish(conn)
      throw PostgresError(code: .connectionFailed, message: "cannot connect to Postgres: \(message)")
    }
    // Notices (e.g. "schema already exists, skipping") are not errors; libpq would print them.
    PQsetNoticeProcessor(conn, { _, _ in }, nil)
    return LibPQConnection(conn: conn, id: id, thread: thread)
  }

  /// Runs a parameterized statement through a per-connection prepared-statement cache (blocking).
  /// Parameters and results use the binary format.
  func execute(_ query: PostgresQuery) throws(PostgresError) -> PGResultBox {
    let key = StatementKey(sql: query.sql, types: query.bindings.types)
    let name: String
    if let existing = statementNames[key] {
      name = existing
    } else {
      name = nextStatementName()
      let prepared = PQprepare(conn, name, query.sql, Int32(query.bindings.count), query.bindings.types)
      _ = try check(prepared)
      statementNames[key] = name
    }
    let result = withParameters(query.bindings) { values, lengths, formats in
      PQexecPrepared(conn, name, Int32(query.bindings.count), values, lengths, formats, 1)
    }
    return try check(result)
  }

  private func nextStatementName() -> String {
    preparedCount += 1
    return "courier_\(preparedCount)"
  }

  /// Calls `body` with libpq's parameter arrays for `bindings` (values, lengths, binary formats).
  private func withParameters<R>(
    _ bindings: PostgresBindings,
    _ body: ([UnsafePointer<CChar>?], [Int32], [Int32]) -> R
  ) -> R {
    let count = bindings.count
    return bindings.bytes.withUnsafeBufferPointer { buffer in
      var values: [UnsafePointer<CChar>?] = []
      values.reserveCapacity(count)
      let base = buffer.baseAddress.map { UnsafeRawPointer($0) }
      for index in 0..<count {
        if bindings.lengths[index] < 0 || base == nil {
          // NULL, or an empty value whose buffer has no storage: libpq needs a non-NULL pointer
          // for a non-NULL value, so point at a static empty string.
          values.append(bindings.lengths[index] < 0 ? nil : emptyValue)
        } else {
          values.append((base! + bindings.offsets[index]).assumingMemoryBound(to: CChar.self))
        }
      }
      return body(values, bindings.lengths, [Int32](repeating: 1, count: count))
    }
  }

  /// One statement of a pipeline: parameterized (prepared once per connection, binary results)
  /// or a single SQL command without parameters (transaction control, text results).
  enum PipelineItem: Sendable {
    case query(PostgresQuery)
    case command(String)

    var sql: String {
      switch self {
      case .query(let query): query.sql
      case .command(let sql): sql
      }
    }
  }

  /// The error of a pipeline and the index of the item that raised it.
  struct PipelineFailure: Error {
    var index: Int
    var error: PostgresError
  }

  /// Sends `items` to the server in one go (libpq pipeline mode: one write, one sync) and returns
  /// the results of the last `kept` items, in order (blocking). Items after one that fails are not
  /// run (`PGRES_PIPELINE_ABORTED`); the failure names the first that failed. Inside a transaction
  /// block a failure leaves the transaction aborted, as a single statement's would.
  func pipeline(_ items: [PipelineItem], keeping kept: Int) -> Result<[PGResultBox], PipelineFailure> {
    precondition(!items.isEmpty, "an empty pipeline")
    precondition((0...items.count).contains(kept), "keeping more results than items")
    let firstKept = items.count - kept
    func lost(_ index: Int, _ what: String) -> Result<[PGResultBox], PipelineFailure> {
      .failure(PipelineFailure(index: index, error: PostgresError(
        code: .connectionLost, message: "connection lost \(what): \(Self.trimmed(PQerrorMessage(conn)))")))
    }
    guard PQenterPipelineMode(conn) == 1 else { return lost(0, "entering pipeline mode") }
    // What each result that comes back belongs to: a statement being prepared, or an item.
    enum Slot {
      case prepare(StatementKey, String, item: Int)
      case item(Int)
    }
    var slots: [Slot] = []
    var preparing: [StatementKey: String] = [:]
    for (index, item) in items.enumerated() {
      var sent: Int32
      switch item {
      case .command(let sql):
        sent = PQsendQueryParams(conn, sql, 0, nil, nil, nil, nil, 0)
      case .query(let query):
        let key = StatementKey(sql: query.sql, types: query.bindings.types)
        var name = statementNames[key] ?? preparing[key]
        sent = 1
        if name == nil {
          let fresh = nextStatementName()
          sent = PQsendPrepare(conn, fresh, query.sql, Int32(query.bindings.count), query.bindings.types)
          slots.append(.prepare(key, fresh, item: index))
          preparing[key] = fresh
          name = fresh
        }
        if sent == 1 {
          sent = withParameters(query.bindings) { values, lengths, formats in
            PQsendQueryPrepared(conn, name, Int32(query.bindings.count), values, lengths, formats, 1)
          }
        }
      }
      // A send fails only when the connection broke; it is not used again.
      guard sent == 1 else { return lost(index, "sending a pipeline") }
      slots.append(.item(index))
    }
    guard PQpipelineSync(conn) == 1 else { return lost(items.count - 1, "sending a pipeline") }
    var failure: PipelineFailure?
    var results: [PGResultBox] = []
    results.reserveCapacity(kept)
    for slot in slots {
      let index: Int
      switch slot {
      case .prepare(_, _, let item): index = item
      case .item(let item): index = item
      }
      guard let result = PQgetResult(conn) else { return lost(index, "reading a pipeline's results") }
      switch PQresultStatus(result) {
      case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
        if case .prepare(let key, let name, _) = slot { statementNames[key] = name }
        if case .item(let item) = slot, item >= firstKept {
          results.append(PGResultBox(result))
        } else {
          PQclear(result)
        }
      case PGRES_PIPELINE_ABORTED:
        PQclear(result)
      default:
        if failure == nil { failure = PipelineFailure(index: index, error: makeError(result)) }
        PQclear(result)
      }
      // Each statement's results end with a NULL.
      while let extra = PQgetResult(conn) { PQclear(extra) }
    }
    guard let sync = PQgetResult(conn) else { return lost(items.count - 1, "reading a pipeline's end") }
    let synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC
    PQclear(sync)
    guard synced, PQexitPipelineMode(conn) == 1 else { return lost(items.count - 1, "ending a pipeline") }
    if let failure { return .failure(failure) }
    guard results.count == kept else { return lost(items.count - 1, "reading a pipeline's results") }
    return .success(results)
  }

  /// Runs SQL text through the simple-query protocol (several statements allowed, text results).
  /// Internal only: for transaction control and migration files.
  func executeSimple(_ sql: String) throws(PostgresError) -> PGResultBox {
    try check(PQexec(conn, sql))
  }

  private func check(_ result: OpaquePointer?) throws(PostgresError) -> PGResultBox {
    guard let result else {
      throw PostgresError(code: .connectionLost, message: "connection lost: \(Self.trimmed(PQerrorMessage(conn)))")
    }
    switch PQresultStatus(result) {
    case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
      return PGResultBox(result)
    default:
      let error = makeError(result)
      PQclear(result)
      throw error
    }
  }

  private func makeError(_ result: OpaquePointer) -> PostgresError {
    func field(_ code: Character) -> String? {
      PQresultErrorField(result, Int32(code.asciiValue!)).map { String(cString: $0) }
    }
    let sqlState = field("C")
    let connectionBad = PQstatus(conn) == CONNECTION_BAD
    var message = field("M") ?? Self.trimmed(PQresultErrorMessage(result))
    if message.isEmpty { message = Self.trimmed(PQerrorMessage(conn)) }
    let lost = connectionBad || (sqlState.map(SQLState.breaksConnection) ?? false)
    return PostgresError(
      code: lost ? .connectionLost : .server,
      sqlState: sqlState,
      message: lost && sqlState == nil ? "connection lost: \(message)" : message,
      detail: field("D"),
      hint: field("H"),
      position: field("P").flatMap { Int($0) })
  }

  /// Whether the connection still looks usable, without blocking: reads whatever the server sent
  /// while it was idle (a shutdown notice, EOF) and checks the status.
  func isHealthy() -> Bool {
    guard !closed, PQstatus(conn) == CONNECTION_OK else { return false }
    let fd = PQsocket(conn)
    guard fd >= 0 else { return false }
    // POLLRDHUP (Linux): the server closed its side, e.g. after "terminating connection due to
    // administrator command" at a restart.
    let peerClosed: Int16 = 0x2000 | Int16(POLLHUP) | Int16(POLLERR)
    var descriptor = pollfd(fd: fd, events: Int16(POLLIN) | 0x2000, revents: 0)
    let ready = poll(&descriptor, 1, 0)
    if ready <= 0 { return true }  // nothing pending (or EINTR: the next statement will tell)
    if descriptor.revents & peerClosed != 0 { return false }
    guard PQconsumeInput(conn) == 1 else { return false }
    while let notification = PQnotifies(conn) { PQfreemem(notification) }
    return PQstatus(conn) == CONNECTION_OK
  }

  /// True outside a transaction block (`PQTRANS_IDLE`).
  var isIdleOutsideTransaction: Bool { !closed && PQtransactionStatus(conn) == PQTRANS_IDLE }

  var socket: Int32 { PQsocket(conn) }

  /// Reads pending input and returns the notifications received; nil when the connection broke.
  func readNotifications() -> [PostgresNotification]? {
    guard PQconsumeInput(conn) == 1 else { return nil }
    var notifications: [PostgresNotification] = []
    while let raw = PQnotifies(conn) {
      let notify = raw.pointee
      notifications.append(
        PostgresNotification(
          channel: String(cString: notify.relname),
          payload: notify.extra.map { String(cString: $0) } ?? "",
          processID: Int(notify.be_pid)))
      PQfreemem(raw)
    }
    return PQstatus(conn) == CONNECTION_OK ? notifications : nil
  }

  /// Asks the server to cancel the statement in flight (from any thread; opens a short-lived
  /// connection to the server). The statement then fails with SQLSTATE 57014.
  func cancel() {
    cancelHandle.withLock { handle in
      guard let pointer = handle.pointer else { return }
      var buffer = [CChar](repeating: 0, count: 256)
      _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }
  }

  func close() {
    guard !closed else { return }
    closed = true
    cancelHandle.withLock { handle in
      if let existing = handle.pointer { PQfreeCancel(existing) }
      handle.pointer = nil
    }
    PQfinish(conn)
    thread.stop()
  }

  private static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
    guard let text else { return "" }
    var string = String(cString: text)
    while let last = string.last, last.isWhitespace { string.removeLast() }
    return string
  }
}

nonisolated(unsafe) private let emptyValue: UnsafePointer<CChar> = {
  let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
  pointer.initialize(to: 0)
  return UnsafePointer(pointer)
}()

extension LibPQConnection {
  /// True inside a transaction block that an error aborted (`PQTRANS_INERROR`).
  var isInFailedTransaction: Bool { PQtransactionStatus(conn) == PQTRANS_INERROR }
}
