/// A one-dimensional array parameter, such as `uuid[]` or `float8[]`, in Postgres' binary array
/// format; a nil element is NULL. One statement can then take a column of values for many rows:
///
/// ```swift
/// try await tx.execute("INSERT INTO t (id, x) SELECT * FROM unnest(\(PostgresArray(ids)), \(PostgresArray(xs)))")
/// ```
public struct PostgresArray<Element: PostgresEncodable>: PostgresEncodable {
  public var elements: [Element?]

  public init(_ elements: [Element?]) {
    self.elements = elements
  }

  public init(_ elements: [Element]) {
    self.elements = elements.map { $0 }
  }

  /// The array type of `Element`'s type (`float8` -> `float8[]`); unspecified, so that Postgres
  /// infers it from the statement, for element types without a known array type.
  public static var postgresType: PostgresDataType {
    switch Element.postgresType {
    case .bool: PostgresDataType(rawValue: 1000)
    case .bytea: PostgresDataType(rawValue: 1001)
    case .int2: PostgresDataType(rawValue: 1005)
    case .int4: PostgresDataType(rawValue: 1007)
    case .text: PostgresDataType(rawValue: 1009)
    case .varchar: PostgresDataType(rawValue: 1015)
    case .int8: PostgresDataType(rawValue: 1016)
    case .float4: PostgresDataType(rawValue: 1021)
    case .float8: PostgresDataType(rawValue: 1022)
    case .timestamp: PostgresDataType(rawValue: 1115)
    case .timestamptz: PostgresDataType(rawValue: 1185)
    case .uuid: PostgresDataType(rawValue: 2951)
    case .jsonb: PostgresDataType(rawValue: 3807)
    default: .unspecified
    }
  }

  public func encode(into buffer: inout [UInt8]) {
    if elements.isEmpty {  // the empty array has no dimensions
      Int32(0).appendBigEndian(to: &buffer)
      Int32(0).appendBigEndian(to: &buffer)
      Element.postgresType.rawValue.appendBigEndian(to: &buffer)
      return
    }
    Int32(1).appendBigEndian(to: &buffer)  // dimensions
    Int32(elements.contains { $0 == nil } ? 1 : 0).appendBigEndian(to: &buffer)
    Element.postgresType.rawValue.appendBigEndian(to: &buffer)
    Int32(elements.count).appendBigEndian(to: &buffer)
    Int32(1).appendBigEndian(to: &buffer)  // lower bound
    for element in elements {
      guard let element else {
        Int32(-1).appendBigEndian(to: &buffer)
        continue
      }
      let lengthAt = buffer.count
      Int32(0).appendBigEndian(to: &buffer)
      element.encode(into: &buffer)
      let length = Int32(buffer.count - lengthAt - 4)
      withUnsafeBytes(of: length.bigEndian) { bytes in
        for (offset, byte) in bytes.enumerated() { buffer[lengthAt + offset] = byte }
      }
    }
  }
}
