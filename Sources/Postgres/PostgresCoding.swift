/// A Swift value that can be sent as a statement parameter.
///
/// Parameters travel in Postgres' binary format with an explicit type, so the server checks them
/// against the statement: binding a `String` where an `integer` is compared fails with SQLSTATE
/// 42883 instead of being coerced silently.
public protocol PostgresEncodable: Sendable {
  /// The Postgres type the bytes are in.
  static var postgresType: PostgresDataType { get }
  /// Appends the binary representation of `self`.
  func encode(into buffer: inout [UInt8])
}

/// A Swift value that can be read from a result column.
///
/// Results arrive in Postgres' binary format. Custom types usually decode a built-in type first:
/// `self.init(rawValue: try String(from: value))`.
public protocol PostgresDecodable: Sendable {
  init(from value: PostgresValue) throws
}

public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

/// One non-NULL cell of a result, in binary format, as handed to ``PostgresDecodable``.
public struct PostgresValue: Sendable {
  let result: PGResultBox
  let row: Int32
  let column: Int32
  /// The column's type as the server reported it.
  public let type: PostgresDataType
  /// The column's name.
  public var columnName: String { result.columnNames[Int(column)] }

  /// A copy of the raw binary bytes.
  public var bytes: [UInt8] { result.withBytes(row: row, column: column) { Array($0) } }

  func mismatch(_ swiftType: Any.Type) -> PostgresError {
    PostgresError(
      code: .decoding,
      message: "cannot decode column \"\(columnName)\" of type \(type) as \(swiftType)")
  }

  func malformed(_ swiftType: Any.Type) -> PostgresError {
    PostgresError(
      code: .decoding,
      message: "malformed \(type) value in column \"\(columnName)\" for \(swiftType)")
  }

  func readInteger<I: FixedWidthInteger>(_: I.Type) -> I? {
    result.withBytes(row: row, column: column) { raw in
      guard raw.count == MemoryLayout<I>.size else { return nil }
      return I(bigEndian: raw.loadUnaligned(as: I.self))
    }
  }

  func readString() -> String {
    result.withBytes(row: row, column: column) { String(decoding: $0, as: UTF8.self) }
  }
}

extension FixedWidthInteger {
  @inline(__always)
  func appendBigEndian(to buffer: inout [UInt8]) {
    var value = self.bigEndian
    withUnsafeBytes(of: &value) { buffer.append(contentsOf: $0) }
  }
}
