/// The one error type of the Postgres module.
///
/// Server errors carry the SQLSTATE, message, detail and hint that Postgres sent; every error
/// carries the statement it belongs to (when there is one) and the file and line of the caller
/// that issued it. ``isRetriable`` tells whether running the same unit of work again, on a fresh
/// connection, may succeed (serialization failure, deadlock, lost or refused connection).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
  /// What went wrong, independently of the server's SQLSTATE.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    enum Base: String, Sendable {
      case server, connectionLost, connectionFailed, commitOutcomeUnknown, poolTimeout, poolClosed
      case connectionBusy, decoding, migration, invalidArgument
    }
    let base: Base
    /// The server answered the statement with an error (see ``PostgresError/sqlState``).
    public static let server = Code(base: .server)
    /// The connection broke while a statement was in flight (server restart, network). Retriable.
    public static let connectionLost = Code(base: .connectionLost)
    /// A new connection could not be opened (server down or still starting). Retriable.
    public static let connectionFailed = Code(base: .connectionFailed)
    /// The connection broke during COMMIT: the transaction may or may not have been applied.
    /// Never retried automatically.
    public static let commitOutcomeUnknown = Code(base: .commitOutcomeUnknown)
    /// No connection became free within the pool's wait timeout.
    public static let poolTimeout = Code(base: .poolTimeout)
    /// The pool was closed.
    public static let poolClosed = Code(base: .poolClosed)
    /// A connection was used by two statements at once (a programming error).
    public static let connectionBusy = Code(base: .connectionBusy)
    /// A column could not be decoded into the requested Swift type.
    public static let decoding = Code(base: .decoding)
    /// A migration could not be applied, or an applied migration was edited or removed.
    public static let migration = Code(base: .migration)
    /// An argument was rejected before anything was sent to the server.
    public static let invalidArgument = Code(base: .invalidArgument)
    public var description: String { base.rawValue }
  }

  public var code: Code
  /// The five-character SQLSTATE (`42601`, `40001`, ...) when the server sent one.
  public var sqlState: String?
  /// The primary message: the server's, or ours for client-side errors.
  public var message: String
  public var detail: String?
  public var hint: String?
  /// 1-based character position in the statement that the server pointed at.
  public var position: Int?
  /// The SQL text of the statement that failed (never the parameter values).
  public var statement: String?
  /// Where the caller issued the statement.
  public var file: String
  public var line: Int

  init(
    code: Code, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
    position: Int? = nil, statement: String? = nil, file: String = #fileID, line: Int = #line
  ) {
    self.code = code
    self.sqlState = sqlState
    self.message = message
    self.detail = detail
    self.hint = hint
    self.position = position
    self.statement = statement
    self.file = file
    self.line = line
  }

  /// A `.decoding` error, for custom ``PostgresDecodable`` conformances.
  public static func decodingFailed(_ message: String, file: String = #fileID, line: Int = #line) -> PostgresError {
    PostgresError(code: .decoding, message: message, file: file, line: line)
  }

  /// Whether the same work may succeed if run again (on a fresh connection or transaction).
  public var isRetriable: Bool {
    switch code.base {
    case .connectionLost, .connectionFailed: return true
    case .server:
      guard let state = sqlState else { return false }
      return SQLState.isRetriable(state)
    default: return false
    }
  }

  /// Whether the connection that produced this error can no longer be used.
  var breaksConnection: Bool {
    switch code.base {
    case .connectionLost, .connectionFailed, .commitOutcomeUnknown: return true
    case .server: return sqlState.map(SQLState.breaksConnection) ?? false
    default: return false
    }
  }

  func located(statement: String?, file: String, line: Int) -> PostgresError {
    var copy = self
    if copy.statement == nil { copy.statement = statement }
    copy.file = file
    copy.line = line
    return copy
  }

  public var description: String {
    var text = "PostgresError.\(code)"
    if let sqlState { text += " [\(sqlState)]" }
    text += ": \(message)"
    if let detail { text += " (detail: \(detail))" }
    if let hint { text += " (hint: \(hint))" }
    if let statement { text += " in statement: \(statement)" }
    text += " at \(file):\(line)"
    return text
  }
}

/// Well-known SQLSTATE values and their classes.
public enum SQLState {
  public static let serializationFailure = "40001"
  public static let deadlockDetected = "40P01"
  public static let syntaxError = "42601"
  public static let undefinedFunction = "42883"
  public static let datatypeMismatch = "42804"
  public static let uniqueViolation = "23505"
  public static let adminShutdown = "57P01"
  public static let crashShutdown = "57P02"
  public static let cannotConnectNow = "57P03"

  /// Serialization failures, deadlocks, shutdowns and connection exceptions (class 08).
  public static func isRetriable(_ state: String) -> Bool {
    state == serializationFailure || state == deadlockDetected || breaksConnection(state)
  }

  static func breaksConnection(_ state: String) -> Bool {
    state == adminShutdown || state == crashShutdown || state == cannotConnectNow || state.hasPrefix("08")
  }
}
