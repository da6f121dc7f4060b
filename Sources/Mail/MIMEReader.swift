internal import Foundation

/// Reads an RFC 5322 / MIME message: its header fields (unfolded, RFC 2047 decoded) and its
/// `text/plain` and `text/html` bodies (quoted-printable or base64 decoded, charset applied).
///
/// Bodies come back with `\n` line ends. A `multipart/*` message is searched depth-first for the
/// first inline part of each kind; attachments are skipped. The last line end of a single-part
/// body is dropped (it ends the message rather than the text, see ``MailMessage/rendered()``).
public enum MIMEReader {
  /// Splits, unfolds and decodes; throws for a message without header fields, a header line
  /// without `:`, a multipart body without its boundary, invalid base64, or an unknown charset.
  public static func parse(_ raw: [UInt8]) throws(MailError) -> (headers: [(String, String)], text: String, html: String) {
    if raw.isEmpty { throw MailError(field: "message", reason: "empty") }
    let (rawHeaders, body) = try split(raw[...], field: "message")
    if rawHeaders.isEmpty { throw MailError(field: "message", reason: "no header fields") }
    var result = Bodies()
    try collect(headers: rawHeaders, body: body, topLevel: true, into: &result, field: "message")
    let headers = rawHeaders.map { ($0.name, decodeEncodedWords($0.value)) }
    return (headers, result.text ?? "", result.html ?? "")
  }

  /// A header field as it was sent: the name and the unfolded value, encoded words not decoded.
  struct RawHeader {
    var name: String
    var value: String
  }

  private struct Bodies {
    var text: String?
    var html: String?
  }

  /// Header fields and body of an entity; an entity that starts with a blank line has no fields.
  static func split(_ bytes: ArraySlice<UInt8>, field: String) throws(MailError) -> ([RawHeader], ArraySlice<UInt8>) {
    var headers: [RawHeader] = []
    var index = bytes.startIndex
    var lineNumber = 0
    while index < bytes.endIndex {
      var end = index
      while end < bytes.endIndex && bytes[end] != 0x0A { end += 1 }
      var lineEnd = end
      if lineEnd > index && bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
      let next = end < bytes.endIndex ? end + 1 : end
      lineNumber += 1
      if lineEnd == index {
        return (headers, bytes[next...])  // the blank line
      }
      let line = String(decoding: bytes[index..<lineEnd], as: UTF8.self)
      if bytes[index] == 0x20 || bytes[index] == 0x09 {
        guard !headers.isEmpty else {
          throw MailError(field: field, reason: "line \(lineNumber) continues a header field that does not exist")
        }
        headers[headers.count - 1].value += line
      } else {
        guard let colon = line.firstIndex(of: ":") else {
          throw MailError(field: field, reason: "header line \(lineNumber) has no ':'")
        }
        headers.append(RawHeader(name: String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                                 value: String(line[line.index(after: colon)...])))
      }
      index = next
    }
    return (headers, bytes[bytes.endIndex...])
  }

  private static func collect(
    headers: [RawHeader], body: ArraySlice<UInt8>, topLevel: Bool, into result: inout Bodies, field: String
  ) throws(MailError) {
    func value(_ name: String) -> String? {
      headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        .trimmingCharacters(in: .whitespaces)
    }
    let contentType = ContentType(value("Content-Type") ?? "text/plain")
    if let disposition = value("Content-Disposition"), disposition.lowercased().hasPrefix("attachment") { return }

    if contentType.type == "multipart" {
      guard let boundary = contentType.parameters["boundary"], !boundary.isEmpty else {
        throw MailError(field: "\(field).Content-Type", reason: "multipart without a boundary")
      }
      for (index, part) in try parts(of: body, boundary: boundary, field: field).enumerated() {
        let partField = "\(field).part[\(index)]"
        let (partHeaders, partBody) = try split(part, field: partField)
        try collect(headers: partHeaders, body: partBody, topLevel: false, into: &result, field: partField)
      }
      return
    }
    guard contentType.type == "text", contentType.subtype == "plain" || contentType.subtype == "html" else { return }
    if contentType.subtype == "plain" && result.text != nil { return }
    if contentType.subtype == "html" && result.html != nil { return }

    var bytes = Array(body)
    if topLevel {
      if bytes.last == 0x0A { bytes.removeLast() }
      if bytes.last == 0x0D { bytes.removeLast() }
    }
    switch (value("Content-Transfer-Encoding") ?? "7bit").lowercased() {
    case "quoted-printable": bytes = decodeQuotedPrintable(bytes)
    case "base64":
      let compact = bytes.filter { !(($0 == 0x20) || ($0 == 0x09) || ($0 == 0x0D) || ($0 == 0x0A)) }
      guard let data = Data(base64Encoded: Data(compact)) else {
        throw MailError(field: "\(field).Content-Transfer-Encoding", reason: "invalid base64 in the text/\(contentType.subtype) part")
      }
      bytes = Array(data)
    case "7bit", "8bit", "binary", "": break
    case let other:
      throw MailError(field: "\(field).Content-Transfer-Encoding", reason: "unsupported encoding '\(other)'")
    }
    let charset = contentType.parameters["charset"] ?? "us-ascii"
    guard let decoded = decodeCharset(bytes, charset: charset) else {
      throw MailError(field: "\(field).Content-Type", reason: "unsupported charset '\(charset)'")
    }
    let text = decoded.replacingOccurrences(of: "\r\n", with: "\n")
    if contentType.subtype == "plain" { result.text = text } else { result.html = text }
  }

  /// The bodies between `--boundary` lines; the line end before each delimiter belongs to it.
  private static func parts(of body: ArraySlice<UInt8>, boundary: String, field: String) throws(MailError) -> [ArraySlice<UInt8>] {
    let delimiter = Array("--\(boundary)".utf8)
    var parts: [ArraySlice<UInt8>] = []
    var partStart: Int? = nil
    var lineStart = body.startIndex
    var found = false
    while lineStart < body.endIndex {
      var end = lineStart
      while end < body.endIndex && body[end] != 0x0A { end += 1 }
      let next = end < body.endIndex ? end + 1 : end
      if body[lineStart...].starts(with: delimiter) {
        let rest = body[(lineStart + delimiter.count)..<end]
        let closing = rest.starts(with: [0x2D, 0x2D])
        let tail = closing ? rest.dropFirst(2) : rest
        if tail.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
          found = true
          if let start = partStart {
            var partEnd = lineStart
            if partEnd > start && body[partEnd - 1] == 0x0A { partEnd -= 1 }
            if partEnd > start && body[partEnd - 1] == 0x0D { partEnd -= 1 }
            parts.append(body[start..<max(start, partEnd)])
          }
          if closing { return parts }
          partStart = next
        }
      }
      lineStart = next
    }
    guard found else {
      throw MailError(field: "\(field).body", reason: "no '--\(boundary)' line in the multipart body")
    }
    if let start = partStart, start < body.endIndex { parts.append(body[start...]) }  // no closing delimiter
    return parts
  }

  static func decodeQuotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
      let byte = bytes[index]
      if byte == 0x3D {
        // A soft break: `=`, optional blanks, then the line end.
        var after = index + 1
        while after < bytes.count && (bytes[after] == 0x20 || bytes[after] == 0x09) { after += 1 }
        if after < bytes.count && bytes[after] == 0x0D && after + 1 < bytes.count && bytes[after + 1] == 0x0A {
          index = after + 2
          continue
        }
        if after < bytes.count && bytes[after] == 0x0A {
          index = after + 1
          continue
        }
        if after == bytes.count {
          index = after
          continue
        }
        if index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
          out.append(high << 4 | low)
          index += 3
          continue
        }
        out.append(byte)  // not an escape: keep it, as RFC 2045 advises
        index += 1
        continue
      }
      if byte == 0x20 || byte == 0x09 {
        // Blanks at the end of an encoded line were added in transport: drop them.
        var after = index
        while after < bytes.count && (bytes[after] == 0x20 || bytes[after] == 0x09) { after += 1 }
        if after == bytes.count || bytes[after] == 0x0D || bytes[after] == 0x0A {
          index = after
          continue
        }
      }
      out.append(byte)
      index += 1
    }
    return out
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x41...0x46: byte - 0x41 + 10
    case 0x61...0x66: byte - 0x61 + 10
    default: nil
    }
  }

  static func decodeCharset(_ bytes: [UInt8], charset: String) -> String? {
    switch charset.lowercased() {
    case "utf-8", "utf8", "us-ascii", "ascii": String(decoding: bytes, as: UTF8.self)
    case "iso-8859-1", "latin1", "iso_8859-1", "latin-1": String(bytes: bytes, encoding: .isoLatin1)
    case "windows-1252", "cp1252": String(bytes: bytes, encoding: .windowsCP1252)
    default: nil
    }
  }

  /// Decodes RFC 2047 encoded words (B and Q) in a header value; whitespace between two encoded
  /// words goes. Words in an unknown charset or that do not decode stay as they are.
  static func decodeEncodedWords(_ value: String) -> String {
    let value = value.trimmingCharacters(in: .whitespaces)
    guard value.contains("=?") else { return value }
    var out = ""
    var pendingSpace = ""
    var lastWasEncoded = false
    var rest = Substring(value)
    while !rest.isEmpty {
      if rest.hasPrefix("=?"), let (decoded, after) = decodeWord(rest) {
        if !lastWasEncoded { out += pendingSpace }
        out += decoded
        pendingSpace = ""
        lastWasEncoded = true
        rest = after
        continue
      }
      let character = rest.removeFirst()
      if character == " " || character == "\t" {
        pendingSpace.append(character)
        continue
      }
      out += pendingSpace
      pendingSpace = ""
      out.append(character)
      lastWasEncoded = false
    }
    return out + pendingSpace
  }

  /// One `=?charset?B|Q?text?=` at the start of `text`.
  private static func decodeWord(_ text: Substring) -> (String, Substring)? {
    let fields = text.dropFirst(2)
    guard let q1 = fields.firstIndex(of: "?") else { return nil }
    let charset = fields[..<q1].split(separator: "*").first.map(String.init) ?? ""
    let afterCharset = fields[fields.index(after: q1)...]
    guard let q2 = afterCharset.firstIndex(of: "?") else { return nil }
    let encoding = afterCharset[..<q2].uppercased()
    let payloadStart = afterCharset.index(after: q2)
    guard let end = afterCharset[payloadStart...].range(of: "?=") else { return nil }
    let payload = afterCharset[payloadStart..<end.lowerBound]
    if payload.contains(" ") { return nil }
    var bytes: [UInt8]
    switch encoding {
    case "B":
      var padded = String(payload)
      while padded.utf8.count % 4 != 0 { padded += "=" }
      guard let data = Data(base64Encoded: padded) else { return nil }
      bytes = Array(data)
    case "Q":
      bytes = decodeQuotedPrintable(Array(payload.replacingOccurrences(of: "_", with: " ").utf8))
    default:
      return nil
    }
    guard let decoded = decodeCharset(bytes, charset: charset) else { return nil }
    return (decoded, afterCharset[end.upperBound...])
  }

  /// `type/subtype; name=value; name="quoted value"`, names lowercased.
  struct ContentType {
    var type: String
    var subtype: String
    var parameters: [String: String] = [:]

    init(_ header: String) {
      var pieces: [String] = []
      var current = ""
      var quoted = false
      var escaped = false
      for character in header {
        if escaped {
          current.append(character)
          escaped = false
        } else if character == "\\" && quoted {
          escaped = true
        } else if character == "\"" {
          quoted.toggle()
        } else if character == ";" && !quoted {
          pieces.append(current)
          current = ""
        } else {
          current.append(character)
        }
      }
      pieces.append(current)
      let mediaType = pieces[0].trimmingCharacters(in: .whitespaces).lowercased()
      let slash = mediaType.split(separator: "/", maxSplits: 1)
      type = slash.first.map(String.init) ?? "text"
      subtype = slash.count > 1 ? String(slash[1]) : ""
      for piece in pieces.dropFirst() {
        guard let equals = piece.firstIndex(of: "=") else { continue }
        let name = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
        parameters[name] = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
      }
    }
  }
}
