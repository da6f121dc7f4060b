import Testing

@testable import CourierCodeGen

@Suite("Reading Courier's custom options from raw option bytes")
struct OptionsDecodingTests {
  /// Encodes a length-delimited field.
  static func field(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
    varint(UInt64(number << 3 | 2)) + varint(UInt64(payload.count)) + payload
  }

  static func field(_ number: Int, _ text: String) -> [UInt8] {
    field(number, Array(text.utf8))
  }

  static func varint(_ value: UInt64) -> [UInt8] {
    var value = value
    var bytes: [UInt8] = []
    repeat {
      var byte = UInt8(value & 0x7F)
      value >>= 7
      if value != 0 { byte |= 0x80 }
      bytes.append(byte)
    } while value != 0
    return bytes
  }

  @Test("an HTTP rule and an access rule on a method")
  func methodOptions() throws {
    let http = Self.field(3, "/tracking/payload/{payload_tracking_code}") + Self.field(6, "*")
    let access = Self.varint(1 << 3) + Self.varint(3) + Self.field(2, "admin") + Self.field(2, "deliverer")
    // idempotency_level (34) is a standard option and is skipped.
    let bytes = Self.varint(34 << 3) + Self.varint(1) + Self.field(51001, http) + Self.field(51002, access)
    let options = try CourierOptions(unknownFields: bytes)
    #expect(options.http == HTTPRule(verb: .post, pathTemplate: "/tracking/payload/{payload_tracking_code}", body: "*"))
    #expect(options.access == AccessRule(level: .role, roles: ["admin", "deliverer"]))
    #expect(options.event == nil)
  }

  @Test("an event binding and the envelope flag on messages")
  func messageOptions() throws {
    let binding = Self.field(1, "courier.user-created.v1") + Self.field(2, "user_id")
    let options = try CourierOptions(unknownFields: Self.field(51011, binding))
    #expect(options.event == EventBindingOption(topic: "courier.user-created.v1", keyField: "user_id"))
    #expect(!options.isEventEnvelope)
    let envelope = try CourierOptions(unknownFields: Self.varint(51012 << 3) + Self.varint(1))
    #expect(envelope.isEventEnvelope)
  }

  @Test("unknown fields of other fixed-width types are skipped")
  func skipsOtherWireTypes() throws {
    let bytes: [UInt8] = Self.varint(7 << 3 | 1) + [1, 2, 3, 4, 5, 6, 7, 8] + Self.varint(8 << 3 | 5) + [1, 2, 3, 4]
    #expect(try CourierOptions(unknownFields: bytes) == CourierOptions(unknownFields: []))
  }

  @Test("broken option bytes are errors, not guesses")
  func brokenBytes() {
    // A length prefix longer than what follows.
    #expect(throws: WireFormatError.truncated) {
      try CourierOptions(unknownFields: Self.varint(51001 << 3 | 2) + Self.varint(10) + [1, 2])
    }
    // A varint that never ends.
    #expect(throws: WireFormatError.truncated) {
      try CourierOptions(unknownFields: [0x80, 0x80])
    }
    #expect(throws: WireFormatError.varintTooLong) {
      try CourierOptions(unknownFields: [UInt8](repeating: 0xFF, count: 11) + [0x01])
    }
    // Groups (wire types 3 and 4) are not used by our options.
    #expect(throws: WireFormatError.unsupportedWireType(3)) {
      try CourierOptions(unknownFields: Self.varint(5 << 3 | 3))
    }
    #expect(throws: WireFormatError.invalidFieldNumber(0)) {
      try CourierOptions(unknownFields: [0x02, 0x00])
    }
    #expect(throws: WireFormatError.invalidUTF8(field: 1)) {
      try CourierOptions(unknownFields: Self.field(51011, Self.field(1, [0xFF, 0xFE])))
    }
  }
}
