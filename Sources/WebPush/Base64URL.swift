/// Base64url (RFC 4648 section 5) as Web Push uses it for keys, salts and JWT parts.
///
/// Encoding always gives the URL-safe alphabet without padding. Decoding is lenient in the ways
/// browsers and libraries differ: it accepts `=` padding and the standard alphabet (`+`, `/`) too.
public enum Base64URL {
  private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

  /// The bytes as base64url without padding.
  public static func encode(_ bytes: some Collection<UInt8>) -> String {
    let input = Array(bytes)
    var out: [UInt8] = []
    out.reserveCapacity((input.count * 4 + 2) / 3)
    var index = 0
    while index + 3 <= input.count {
      let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
      out.append(alphabet[Int(value >> 18 & 63)])
      out.append(alphabet[Int(value >> 12 & 63)])
      out.append(alphabet[Int(value >> 6 & 63)])
      out.append(alphabet[Int(value & 63)])
      index += 3
    }
    let rest = input.count - index
    if rest > 0 {
      var value = UInt32(input[index]) << 16
      if rest == 2 { value |= UInt32(input[index + 1]) << 8 }
      out.append(alphabet[Int(value >> 18 & 63)])
      out.append(alphabet[Int(value >> 12 & 63)])
      if rest == 2 { out.append(alphabet[Int(value >> 6 & 63)]) }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// The bytes of base64url or standard base64 text, padded or not; `nil` if a character is outside
  /// both alphabets, padding appears before the end, or the length cannot be base64.
  public static func decode(_ text: String) -> [UInt8]? {
    var symbols = Array(text.utf8)
    var padding = 0
    while let last = symbols.last, last == UInt8(ascii: "=") {
      symbols.removeLast()
      padding += 1
    }
    guard padding <= 2, symbols.count % 4 != 1 else { return nil }
    if padding > 0, (symbols.count + padding) % 4 != 0 { return nil }

    var out: [UInt8] = []
    out.reserveCapacity(symbols.count * 3 / 4)
    var accumulator: UInt32 = 0
    var bits = 0
    for symbol in symbols {
      guard let value = sextet(symbol) else { return nil }
      accumulator = accumulator << 6 | UInt32(value)
      bits += 6
      if bits >= 8 {
        bits -= 8
        out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
      }
    }
    return out
  }

  private static func sextet(_ symbol: UInt8) -> UInt8? {
    switch symbol {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"): symbol - UInt8(ascii: "A")
    case UInt8(ascii: "a")...UInt8(ascii: "z"): symbol - UInt8(ascii: "a") + 26
    case UInt8(ascii: "0")...UInt8(ascii: "9"): symbol - UInt8(ascii: "0") + 52
    case UInt8(ascii: "-"), UInt8(ascii: "+"): 62
    case UInt8(ascii: "_"), UInt8(ascii: "/"): 63
    default: nil
    }
  }
}
