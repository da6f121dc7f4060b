internal import Foundation

/// The encoders that ``MailMessage/rendered()`` uses: line ends, quoted-printable, RFC 2047
/// encoded words and header folding.
enum MIMEEncoding {
  /// The longest header line we aim for (RFC 5322's "SHOULD"); encoded words keep us under it.
  static let foldedLineLength = 78

  /// `text` as UTF-8 with every line end (LF, CR, CRLF) turned into CRLF.
  static func crlf(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count + text.utf8.count / 32)
    var previousCR = false
    for byte in text.utf8 {
      switch byte {
      case 0x0D:
        out.append(0x0D)
        out.append(0x0A)
        previousCR = true
      case 0x0A:
        if !previousCR {
          out.append(0x0D)
          out.append(0x0A)
        }
        previousCR = false
      default:
        out.append(byte)
        previousCR = false
      }
    }
    return out
  }

  /// Quoted-printable (RFC 2045 6.7) of CRLF-separated bytes: hard line breaks stay CRLF, encoded
  /// lines are at most 76 characters with soft breaks (`=` CRLF), trailing blanks and a leading
  /// `.` are encoded.
  static func quotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + bytes.count / 8)
    let hex = Array("0123456789ABCDEF".utf8)
    var lineStart = 0
    while lineStart <= bytes.count {
      var lineEnd = lineStart
      while lineEnd < bytes.count && !(bytes[lineEnd] == 0x0D && lineEnd + 1 < bytes.count && bytes[lineEnd + 1] == 0x0A) {
        lineEnd += 1
      }
      var column = 0
      var index = lineStart
      while index < lineEnd {
        let byte = bytes[index]
        let isLast = index == lineEnd - 1
        let literal: Bool
        switch byte {
        case 0x21...0x7E: literal = byte != 0x3D && !(byte == 0x2E && column == 0)
        case 0x20, 0x09: literal = !isLast
        default: literal = false
        }
        let width = literal ? 1 : 3
        // Keep room for the soft break's `=` unless this is the line's last character.
        if column + width > (isLast ? 76 : 75) {
          out.append(contentsOf: [0x3D, 0x0D, 0x0A])
          column = 0
        }
        if literal {
          out.append(byte)
        } else {
          out.append(0x3D)
          out.append(hex[Int(byte >> 4)])
          out.append(hex[Int(byte & 0x0F)])
        }
        column += width
        index += 1
      }
      if lineEnd >= bytes.count { break }
      out.append(0x0D)
      out.append(0x0A)
      lineStart = lineEnd + 2
    }
    return out
  }

  /// True when `value` can go into a header as it is: printable ASCII, blanks, no `=?` that a
  /// reader would take for an encoded word, and no word too long to fold.
  static func isPlainHeaderText(_ value: String, longestWord: Int) -> Bool {
    if value.contains("=?") { return false }
    var word = 0
    for scalar in value.unicodeScalars {
      switch scalar.value {
      case 0x20, 0x09: word = 0
      case 0x21...0x7E:
        word += 1
        if word > longestWord { return false }
      default: return false
      }
    }
    return true
  }

  /// `text` as RFC 2047 B-encoded words in UTF-8, each at most 75 characters, the first one at
  /// most `firstLength` (room left on the header's first line), never splitting a character.
  static func encodedWords(_ text: String, firstLength: Int) -> [String] {
    func capacity(_ length: Int) -> Int { max(0, (length - 12) / 4 * 3) }
    let firstCapacity = capacity(firstLength) >= 12 ? capacity(firstLength) : capacity(75)
    var words: [String] = []
    var chunk: [UInt8] = []
    var limit = firstCapacity
    func flush() {
      guard !chunk.isEmpty else { return }
      words.append("=?utf-8?B?" + Data(chunk).base64EncodedString() + "?=")
      chunk.removeAll(keepingCapacity: true)
      limit = capacity(75)
    }
    func add(_ bytes: some Collection<UInt8>) {
      if chunk.count + bytes.count > limit { flush() }
      chunk.append(contentsOf: bytes)
    }
    for character in text {
      let bytes = Array(character.utf8)
      if bytes.count <= capacity(75) {
        add(bytes)
      } else {
        // A grapheme cluster longer than a word: split it between its scalars.
        for scalar in character.unicodeScalars { add(Array(String(scalar).utf8)) }
      }
    }
    flush()
    return words
  }

  /// A header field `Name: tokens...`, folded between tokens (CRLF SP) so that lines stay within
  /// 78 characters where the tokens allow; ends with CRLF.
  static func header(_ name: String, tokens: [String]) -> [UInt8] {
    var out = name + ":"
    var column = out.utf8.count
    var first = true
    for token in tokens {
      let width = token.utf8.count
      if !first && !token.isEmpty && column + 1 + width > foldedLineLength {
        out += "\r\n " + token
        column = 1 + width
      } else {
        out += " " + token
        column += 1 + width
      }
      first = false
    }
    return Array((out + "\r\n").utf8)
  }

  /// An unstructured value (Subject, an extra header): as it is when plain ASCII, else encoded words.
  /// Line breaks become spaces.
  static func unstructuredHeader(_ name: String, value: String) -> [UInt8] {
    let flat = oneLine(value)
    if isPlainHeaderText(flat, longestWord: foldedLineLength - 1 - name.utf8.count - 2) {
      return header(name, tokens: flat.split(separator: " ", omittingEmptySubsequences: false).map(String.init))
    }
    return header(name, tokens: encodedWords(flat, firstLength: foldedLineLength - name.utf8.count - 2))
  }

  /// A mailbox header (`From`, `To`): the display name as atoms, a quoted string or encoded words,
  /// then `<address>`.
  static func mailboxHeader(_ name: String, mailbox: MailAddress) -> [UInt8] {
    let display = oneLine(mailbox.name)
    let angle = "<" + oneLine(mailbox.address).replacingOccurrences(of: " ", with: "") + ">"
    if display.isEmpty { return header(name, tokens: [angle]) }
    let firstRoom = foldedLineLength - name.utf8.count - 2
    if display.unicodeScalars.allSatisfy(isAtomOrSpace) && isPlainHeaderText(display, longestWord: firstRoom - 1) {
      return header(name, tokens: display.split(separator: " ").map(String.init) + [angle])
    }
    if isPlainHeaderText(display, longestWord: .max) && display.utf8.count + 2 <= firstRoom {
      let quoted = "\"" + display.replacingOccurrences(of: "\\", with: "\\\\")
        .replacingOccurrences(of: "\"", with: "\\\"") + "\""
      return header(name, tokens: [quoted, angle])
    }
    return header(name, tokens: encodedWords(display, firstLength: firstRoom) + [angle])
  }

  /// RFC 5322 atext plus the space: what a display name may hold without quoting.
  private static func isAtomOrSpace(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == " " { return true }
    guard scalar.isASCII else { return false }
    if ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) { return true }
    return "!#$%&'*+-/=?^_`{|}~".unicodeScalars.contains(scalar)
  }

  /// Replaces CR and LF by spaces, so that no value can start a header of its own.
  static func oneLine(_ value: String) -> String {
    guard value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return value }
    return String(value.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
  }

  /// The RFC 5322 date-time, in UTC: `Fri, 27 Nov 2026 15:48:03 +0000`.
  static func rfc5322Date(_ date: Date) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ value: Int?) -> String {
      let value = value ?? 0
      return value < 10 ? "0\(value)" : "\(value)"
    }
    return "\(days[(parts.weekday ?? 1) - 1]), \(two(parts.day)) \(months[(parts.month ?? 1) - 1]) "
      + "\(parts.year ?? 1970) \(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) +0000"
  }
}
