/// Base64 for `-bin` metadata values: standard alphabet; decoding accepts missing padding.
enum Base64 {
  private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  static func encode(_ bytes: [UInt8]) -> String {
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index + 3 <= bytes.count {
      let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
      out.append(Self.alphabet[Int(value >> 18 & 63)])
      out.append(Self.alphabet[Int(value >> 12 & 63)])
      out.append(Self.alphabet[Int(value >> 6 & 63)])
      out.append(Self.alphabet[Int(value & 63)])
      index += 3
    }
    let rest = bytes.count - index
    if rest > 0 {
      var value = UInt32(bytes[index]) << 16
      if rest == 2 { value |= UInt32(bytes[index + 1]) << 8 }
      out.append(Self.alphabet[Int(value >> 18 & 63)])
      out.append(Self.alphabet[Int(value >> 12 & 63)])
      out.append(rest == 2 ? Self.alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
      out.append(UInt8(ascii: "="))
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes standard or unpadded base64; `nil` if a character is outside the alphabet.
  static func decode(_ string: String) -> [UInt8]? {
    var out: [UInt8] = []
    out.reserveCapacity(string.utf8.count / 4 * 3)
    var accumulator: UInt32 = 0
    var bits = 0
    for byte in string.utf8 {
      let value: UInt8
      switch byte {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
      case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
      case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
      case UInt8(ascii: "+"), UInt8(ascii: "-"): value = 62
      case UInt8(ascii: "/"), UInt8(ascii: "_"): value = 63
      case UInt8(ascii: "="): continue
      default: return nil
      }
      accumulator = accumulator << 6 | UInt32(value)
      bits += 6
      if bits >= 8 {
        bits -= 8
        out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
      }
    }
    return out
  }
}
