public import Foundation

extension Int: PostgresCodable {
  public static var postgresType: PostgresDataType { .int8 }
  public func encode(into buffer: inout [UInt8]) { Int64(self).appendBigEndian(to: &buffer) }
  public init(from value: PostgresValue) throws {
    switch value.type {
    case .int8: if let v = value.readInteger(Int64.self) { self = Int(v); return }
    case .int4: if let v = value.readInteger(Int32.self) { self = Int(v); return }
    case .int2: if let v = value.readInteger(Int16.self) { self = Int(v); return }
    case .oid: if let v = value.readInteger(UInt32.self) { self = Int(v); return }
    default: throw value.mismatch(Int.self)
    }
    throw value.malformed(Int.self)
  }
}

extension Int64: PostgresCodable {
  public static var postgresType: PostgresDataType { .int8 }
  public func encode(into buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
  public init(from value: PostgresValue) throws {
    self = Int64(try Int(from: value))
  }
}

extension Int32: PostgresCodable {
  public static var postgresType: PostgresDataType { .int4 }
  public func encode(into buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
  public init(from value: PostgresValue) throws {
    switch value.type {
    case .int4: if let v = value.readInteger(Int32.self) { self = v; return }
    case .int2: if let v = value.readInteger(Int16.self) { self = Int32(v); return }
    default: throw value.mismatch(Int32.self)
    }
    throw value.malformed(Int32.self)
  }
}

extension Int16: PostgresCodable {
  public static var postgresType: PostgresDataType { .int2 }
  public func encode(into buffer: inout [UInt8]) { appendBigEndian(to: &buffer) }
  public init(from value: PostgresValue) throws {
    guard value.type == .int2 else { throw value.mismatch(Int16.self) }
    guard let v = value.readInteger(Int16.self) else { throw value.malformed(Int16.self) }
    self = v
  }
}

extension Bool: PostgresCodable {
  public static var postgresType: PostgresDataType { .bool }
  public func encode(into buffer: inout [UInt8]) { buffer.append(self ? 1 : 0) }
  public init(from value: PostgresValue) throws {
    guard value.type == .bool else { throw value.mismatch(Bool.self) }
    guard let v = value.readInteger(UInt8.self) else { throw value.malformed(Bool.self) }
    self = v != 0
  }
}

extension Double: PostgresCodable {
  public static var postgresType: PostgresDataType { .float8 }
  public func encode(into buffer: inout [UInt8]) { bitPattern.appendBigEndian(to: &buffer) }
  public init(from value: PostgresValue) throws {
    switch value.type {
    case .float8:
      if let bits = value.readInteger(UInt64.self) { self = Double(bitPattern: bits); return }
    case .float4:
      if let bits = value.readInteger(UInt32.self) { self = Double(Float(bitPattern: bits)); return }
    default: throw value.mismatch(Double.self)
    }
    throw value.malformed(Double.self)
  }
}

extension String: PostgresCodable {
  public static var postgresType: PostgresDataType { .text }
  public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
  public init(from value: PostgresValue) throws {
    switch value.type {
    case .text, .varchar, .bpchar, .name, .json:
      self = value.readString()
    case .jsonb:
      let bytes = value.bytes
      guard bytes.first == 1 else { throw value.malformed(String.self) }
      self = String(decoding: bytes.dropFirst(), as: UTF8.self)
    default: throw value.mismatch(String.self)
    }
  }
}

extension UUID: PostgresCodable {
  public static var postgresType: PostgresDataType { .uuid }
  public func encode(into buffer: inout [UInt8]) {
    withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
  }
  public init(from value: PostgresValue) throws {
    guard value.type == .uuid else { throw value.mismatch(UUID.self) }
    let bytes = value.bytes
    guard bytes.count == 16 else { throw value.malformed(UUID.self) }
    self = UUID(
      uuid: (
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
      ))
  }
}

extension Data: PostgresCodable {
  public static var postgresType: PostgresDataType { .bytea }
  public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
  public init(from value: PostgresValue) throws {
    guard value.type == .bytea else { throw value.mismatch(Data.self) }
    self = Data(value.bytes)
  }
}

extension [UInt8]: PostgresCodable {
  public static var postgresType: PostgresDataType { .bytea }
  public func encode(into buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
  public init(from value: PostgresValue) throws {
    guard value.type == .bytea else { throw value.mismatch([UInt8].self) }
    self = value.bytes
  }
}

/// Microseconds between 1970-01-01 and Postgres' epoch, 2000-01-01 (UTC).
private let postgresEpochOffsetMicroseconds: Int64 = 946_684_800_000_000

extension Date: PostgresCodable {
  /// Sent as `timestamptz`, with microsecond precision.
  public static var postgresType: PostgresDataType { .timestamptz }
  public func encode(into buffer: inout [UInt8]) {
    let micros = Int64((timeIntervalSince1970 * 1_000_000).rounded()) - postgresEpochOffsetMicroseconds
    micros.appendBigEndian(to: &buffer)
  }
  public init(from value: PostgresValue) throws {
    guard value.type == .timestamptz || value.type == .timestamp else { throw value.mismatch(Date.self) }
    guard let micros = value.readInteger(Int64.self) else { throw value.malformed(Date.self) }
    self = Date(timeIntervalSince1970: Double(micros + postgresEpochOffsetMicroseconds) / 1_000_000)
  }
}

/// A `jsonb` value: its UTF-8 JSON text. Encode and decode it with any JSON coder.
public struct PostgresJSONB: PostgresCodable, Hashable {
  public var json: String
  public init(json: String) { self.json = json }
  /// Encodes `value` with `JSONEncoder`.
  public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws {
    self.json = String(decoding: try encoder.encode(value), as: UTF8.self)
  }
  /// Decodes the JSON with `JSONDecoder`.
  public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
    try decoder.decode(type, from: Data(json.utf8))
  }

  public static var postgresType: PostgresDataType { .jsonb }
  public func encode(into buffer: inout [UInt8]) {
    buffer.append(1)
    buffer.append(contentsOf: json.utf8)
  }
  public init(from value: PostgresValue) throws {
    guard value.type == .jsonb || value.type == .json else { throw value.mismatch(PostgresJSONB.self) }
    self.json = try String(from: value)
  }
}
