internal import Foundation

extension MIMEReader {
  /// A mailbox from a raw (not yet decoded) `From`/`To` value: `Name <a@b.c>`, `"Quoted, Name" <a@b.c>`,
  /// `=?utf-8?B?...?= <a@b.c>` or a bare `a@b.c`. Group syntax and lists are not parsed: the first
  /// angle-bracketed address wins.
  static func mailbox(_ raw: String) -> MailAddress {
    let value = raw.trimmingCharacters(in: .whitespaces)
    guard let open = value.lastIndex(of: "<"), let close = value[open...].firstIndex(of: ">") else {
      return MailAddress(address: value)
    }
    let address = String(value[value.index(after: open)..<close]).trimmingCharacters(in: .whitespaces)
    var display = value[..<open].trimmingCharacters(in: .whitespaces)
    if display.hasPrefix("\""), display.hasSuffix("\""), display.count >= 2 {
      var unquoted = ""
      var escaped = false
      for character in display.dropFirst().dropLast() {
        if escaped {
          unquoted.append(character)
          escaped = false
        } else if character == "\\" {
          escaped = true
        } else {
          unquoted.append(character)
        }
      }
      display = unquoted
    } else {
      display = decodeEncodedWords(display)
    }
    return MailAddress(address: address, name: display)
  }
}
