/// The rows a statement returned, all in memory (libpq reads the whole result).
public struct PostgresRows: RandomAccessCollection, Sendable {
  let result: PGResultBox
  let statement: String

  init(result: PGResultBox, statement: String) {
    self.result = result
    self.statement = statement
  }

  public var startIndex: Int { 0 }
  public var endIndex: Int { Int(result.rowCount) }
  public subscript(position: Int) -> PostgresRow {
    precondition(position >= 0 && position < endIndex, "row index out of range")
    return PostgresRow(rows: self, index: Int32(position))
  }

  /// The names of the result's columns, in order.
  public var columnNames: [String] { result.columnNames }
  /// Rows inserted, updated, deleted or selected, as the server's command tag reports them.
  public var affectedRows: Int { result.affectedRows }
}

/// One row of ``PostgresRows``. Decode columns by position or name, or all at once as a tuple.
public struct PostgresRow: Sendable {
  let rows: PostgresRows
  let index: Int32

  public var columnCount: Int { Int(rows.result.columnCount) }

  /// Decodes column `column` (0-based). Use an `Optional` type for nullable columns.
  public func decode<T: PostgresDecodable>(
    _ type: T.Type, at column: Int, file: String = #fileID, line: Int = #line
  ) throws -> T {
    do {
      return try decodeValue(T.self, at: column)
    } catch let error as PostgresError {
      throw error.located(statement: rows.statement, file: file, line: line)
    }
  }

  /// Decodes the column named `name`.
  public func decode<T: PostgresDecodable>(
    _ type: T.Type, column name: String, file: String = #fileID, line: Int = #line
  ) throws -> T {
    guard let column = rows.result.columnNames.firstIndex(of: name) else {
      throw PostgresError(
        code: .decoding, message: "no column named \"\(name)\"", statement: rows.statement,
        file: file, line: line)
    }
    return try decode(T.self, at: column, file: file, line: line)
  }

  /// Decodes the first columns of the row as a tuple: `let (id, name) = try row.decode((Int, String).self)`.
  public func decode<each T: PostgresDecodable>(
    _ types: (repeat each T).Type, file: String = #fileID, line: Int = #line
  ) throws -> (repeat each T) {
    var column = 0
    func next<U: PostgresDecodable>(_: U.Type) throws -> U {
      defer { column += 1 }
      return try decode(U.self, at: column, file: file, line: line)
    }
    return (repeat try next((each T).self))
  }

  func decodeValue<T: PostgresDecodable>(_ type: T.Type, at column: Int) throws -> T {
    let result = rows.result
    guard column >= 0 && column < Int(result.columnCount) else {
      throw PostgresError(code: .decoding, message: "column \(column) out of range (\(result.columnCount) columns)")
    }
    let c = Int32(column)
    if result.isNull(row: index, column: c) {
      if let nullable = T.self as? any _PostgresOptional.Type {
        return nullable.postgresNull as! T
      }
      throw PostgresError(
        code: .decoding, message: "column \"\(result.columnNames[column])\" is NULL; decode it as \(T.self)?")
    }
    let value = PostgresValue(result: result, row: index, column: c, type: result.columnTypes[column])
    return try T(from: value)
  }
}

/// Lets `decode(T?.self, ...)` turn NULL into `nil`.
protocol _PostgresOptional {
  static var postgresNull: Self { get }
}

extension Optional: _PostgresOptional {
  static var postgresNull: Self { nil }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
  public init(from value: PostgresValue) throws {
    self = .some(try Wrapped(from: value))
  }
}
