internal import CLibPQ

/// Owns one `PGresult`; freed when the last row referring to it goes away. Immutable after
/// creation, so sharing it between threads is safe.
final class PGResultBox: @unchecked Sendable {
  let pointer: OpaquePointer
  let rowCount: Int32
  let columnCount: Int32
  let columnNames: [String]
  let columnTypes: [PostgresDataType]

  init(_ pointer: OpaquePointer) {
    self.pointer = pointer
    self.rowCount = PQntuples(pointer)
    self.columnCount = PQnfields(pointer)
    var names: [String] = []
    var types: [PostgresDataType] = []
    names.reserveCapacity(Int(columnCount))
    types.reserveCapacity(Int(columnCount))
    for column in 0..<columnCount {
      names.append(PQfname(pointer, column).map { String(cString: $0) } ?? "?column?")
      types.append(PostgresDataType(rawValue: PQftype(pointer, column)))
    }
    self.columnNames = names
    self.columnTypes = types
  }

  deinit { PQclear(pointer) }

  /// Rows affected by INSERT/UPDATE/DELETE/SELECT..., 0 when the command reports none.
  var affectedRows: Int {
    guard let text = PQcmdTuples(pointer) else { return 0 }
    return Int(String(cString: text)) ?? 0
  }

  func isNull(row: Int32, column: Int32) -> Bool {
    PQgetisnull(pointer, row, column) == 1
  }

  func withBytes<R>(row: Int32, column: Int32, _ body: (UnsafeRawBufferPointer) -> R) -> R {
    let length = Int(PQgetlength(pointer, row, column))
    guard let base = PQgetvalue(pointer, row, column) else {
      return body(UnsafeRawBufferPointer(start: nil, count: 0))
    }
    return body(UnsafeRawBufferPointer(start: UnsafeRawPointer(base), count: length))
  }
}
