/// Percent-encoding of `grpc-message`: bytes outside printable ASCII (0x20-0x7E) and '%' are sent
/// as %XX of their UTF-8 bytes.
enum GRPCPercentEncoding {
  static func encode(_ message: String) -> String {
    let utf8 = message.utf8
    if utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != 0x25 }) {
      return message
    }
    var out: [UInt8] = []
    out.reserveCapacity(utf8.count * 3)
    let hex = Array("0123456789ABCDEF".utf8)
    for byte in utf8 {
      if byte >= 0x20 && byte <= 0x7E && byte != 0x25 {
        out.append(byte)
      } else {
        out.append(0x25)
        out.append(hex[Int(byte >> 4)])
        out.append(hex[Int(byte & 0xF)])
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Decodes %XX sequences; a malformed sequence is kept as it is.
  static func decode(_ value: String) -> String {
    guard value.utf8.contains(0x25) else { return value }
    let bytes = Array(value.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
      if bytes[index] == 0x25, index + 2 < bytes.count + 0, index + 2 <= bytes.count - 1,
        let high = Self.hexValue(bytes[index + 1]), let low = Self.hexValue(bytes[index + 2])
      {
        out.append(high << 4 | low)
        index += 3
      } else {
        out.append(bytes[index])
        index += 1
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
