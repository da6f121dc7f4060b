/// A parameterized SQL statement.
///
/// A query can only be written as a string literal: its SQL text is made of compile-time literal
/// pieces, and every interpolated value becomes a bound parameter (`$1`, `$2`, ...), never SQL
/// text. There is no initializer from a run-time `String`, so SQL built by concatenation does not
/// compile:
///
/// ```swift
/// let rows = try await pool.query("SELECT name FROM hermes.payloads WHERE id = \(id)")
/// ```
///
/// The one exception is a schema or table name, which cannot be a parameter: write
/// `\(identifier: name)` and it is quoted as an identifier.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation {
  public typealias StringLiteralType = StaticString

  /// The SQL text, with `$n` placeholders.
  public internal(set) var sql: String
  /// The parameter values, in placeholder order.
  public internal(set) var bindings: PostgresBindings

  public init(stringLiteral value: StaticString) {
    self.sql = value.description
    self.bindings = PostgresBindings()
  }

  public init(stringInterpolation: StringInterpolation) {
    self.sql = stringInterpolation.sql
    self.bindings = stringInterpolation.bindings
  }

  /// Internal only: SQL from a trusted source (migration files, our own statements).
  init(unsafeSQL sql: String, bindings: PostgresBindings = PostgresBindings()) {
    self.sql = sql
    self.bindings = bindings
  }

  public struct StringInterpolation: StringInterpolationProtocol {
    public typealias StringLiteralType = StaticString
    var sql: String
    var bindings: PostgresBindings

    public init(literalCapacity: Int, interpolationCount: Int) {
      sql = ""
      sql.reserveCapacity(literalCapacity + 3 * interpolationCount)
      bindings = PostgresBindings(capacity: interpolationCount)
    }

    public mutating func appendLiteral(_ literal: StaticString) {
      sql += literal.description
    }

    /// Binds `value` as the next parameter.
    public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
      bindings.append(value)
      sql += "$\(bindings.count)"
    }

    /// Binds `value` as the next parameter, or NULL (typed as `Value`).
    public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
      bindings.append(value)
      sql += "$\(bindings.count)"
    }

    /// Inserts a fixed piece of SQL, such as a column list that several statements share. Only
    /// compile-time constants are accepted, so no value can end up in the statement's text.
    public mutating func appendInterpolation(sql fragment: StaticString) {
      sql += fragment.description
    }

    /// Inserts a quoted identifier (schema, table, column or channel name).
    public mutating func appendInterpolation(identifier: String) {
      sql += PostgresQuery.quoteIdentifier(identifier)
    }
  }

  /// Quotes `name` as a Postgres identifier ("a""b" for a"b). NUL bytes are dropped.
  static func quoteIdentifier(_ name: String) -> String {
    var quoted = "\""
    for character in name where character != "\0" {
      if character == "\"" { quoted += "\"\"" } else { quoted.append(character) }
    }
    return quoted + "\""
  }
}

/// The bound parameters of a ``PostgresQuery``, already encoded in binary format.
public struct PostgresBindings: Sendable, Hashable {
  var types: [UInt32] = []
  /// Offsets into `bytes` and lengths, -1 for NULL.
  var offsets: [Int] = []
  var lengths: [Int32] = []
  var bytes: [UInt8] = []

  public init() {}

  init(capacity: Int) {
    types.reserveCapacity(capacity)
    offsets.reserveCapacity(capacity)
    lengths.reserveCapacity(capacity)
  }

  public var count: Int { types.count }

  public mutating func append<Value: PostgresEncodable>(_ value: Value) {
    let start = bytes.count
    value.encode(into: &bytes)
    types.append(Value.postgresType.rawValue)
    offsets.append(start)
    lengths.append(Int32(bytes.count - start))
  }

  public mutating func append<Value: PostgresEncodable>(_ value: Value?) {
    guard let value else {
      types.append(Value.postgresType.rawValue)
      offsets.append(bytes.count)
      lengths.append(-1)
      return
    }
    append(value)
  }
}
