import Foundation
import Mail

/// Splits rendered bytes into lines at CRLF (the last, empty piece dropped).
func crlfLines(_ bytes: [UInt8]) -> [String] {
  var lines: [String] = []
  var start = 0
  var index = 0
  while index + 1 < bytes.count {
    if bytes[index] == 0x0D && bytes[index + 1] == 0x0A {
      lines.append(String(decoding: bytes[start..<index], as: UTF8.self))
      index += 2
      start = index
    } else {
      index += 1
    }
  }
  if start < bytes.count { lines.append(String(decoding: bytes[start...], as: UTF8.self)) }
  return lines
}

/// True when every LF follows a CR and every CR precedes an LF.
func hasOnlyCRLF(_ bytes: [UInt8]) -> Bool {
  for (index, byte) in bytes.enumerated() {
    if byte == 0x0A && (index == 0 || bytes[index - 1] != 0x0D) { return false }
    if byte == 0x0D && (index + 1 == bytes.count || bytes[index + 1] != 0x0A) { return false }
  }
  return true
}

/// The header section's lines (up to the first empty line).
func headerLines(_ bytes: [UInt8]) -> [String] {
  Array(crlfLines(bytes).prefix { !$0.isEmpty })
}

func header(_ name: String, in parsed: [(String, String)]) -> String? {
  parsed.first { $0.0.lowercased() == name.lowercased() }?.1
}

func temporaryDirectory(_ prefix: String) throws -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

let ann = MailAddress(address: "ann@example.com", name: "Ann Example")
let courier = MailAddress(address: "noreply@courier.example", name: "Courier")
