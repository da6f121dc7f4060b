public import Foundation

/// One mail to one recipient: the addresses, the subject, a plain-text body and an optional HTML
/// alternative, ready to be rendered as RFC 5322 + MIME bytes by ``rendered()``.
public struct MailMessage: Sendable {
  public var from: MailAddress
  public var to: MailAddress
  public var subject: String
  /// The plain-text body; any line ends (they become CRLF on the wire).
  public var text: String
  /// An HTML alternative of ``text``; with it the mail is `multipart/alternative`.
  public var html: String?
  /// `<uuid@sender-domain>`, made by `init` unless given.
  public var messageID: String
  public var date: Date
  /// More header fields, in order, e.g. `X-Courier-Delivery-Id`. Names must be printable ASCII
  /// without `:` (see ``validated()``); line breaks in values become spaces.
  public var extraHeaders: [(name: String, value: String)]

  public init(
    from: MailAddress, to: MailAddress, subject: String, text: String, html: String? = nil,
    date: Date = Date(), messageID: String? = nil, extraHeaders: [(name: String, value: String)] = []
  ) {
    self.from = from
    self.to = to
    self.subject = subject
    self.text = text
    self.html = html
    self.date = date
    let domain = from.domain.isEmpty ? "localhost" : from.domain.lowercased()
    self.messageID = messageID ?? "<\(UUID().uuidString.lowercased())@\(domain)>"
    self.extraHeaders = extraHeaders
  }

  /// Checks the addresses (fields `from` and `to`), that the subject has no line break, that the
  /// Message-ID looks like `<left@right>`, and that extra header names are field names
  /// (printable ASCII, no `:`) that do not replace one this type writes itself.
  public func validated() throws(MailError) -> MailMessage {
    _ = try from.validated(field: "from")
    _ = try to.validated(field: "to")
    if subject.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) {
      throw MailError(field: "subject", reason: "contains a line break")
    }
    if !(messageID.hasPrefix("<") && messageID.hasSuffix(">") && messageID.contains("@"))
      || messageID.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" })
    {
      throw MailError(field: "messageID", reason: "'\(messageID)' is not of the form <left@right>")
    }
    let reserved: Set<String> = [
      "from", "to", "subject", "date", "message-id", "mime-version", "content-type", "content-transfer-encoding",
    ]
    for (index, header) in extraHeaders.enumerated() {
      let field = "extraHeaders[\(index)]"
      if header.name.isEmpty || !header.name.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) && $0 != ":" }) {
        throw MailError(field: field, reason: "'\(header.name)' is not a header field name")
      }
      if reserved.contains(header.name.lowercased()) {
        throw MailError(field: field, reason: "'\(header.name)' is written by the message itself")
      }
      if header.value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) {
        throw MailError(field: "\(field).value", reason: "contains a line break")
      }
    }
    return self
  }

  /// The message as RFC 5322 + MIME 1.0 bytes: CRLF line ends, no line over 998 characters,
  /// header lines folded to 78 where possible.
  ///
  /// Header fields: From, To, Subject, Date, Message-ID, MIME-Version, the extra headers, then
  /// Content-Type. Text only: `text/plain; charset=utf-8`, quoted-printable. With ``html``:
  /// `multipart/alternative` with a random boundary, the text part first, then the HTML part,
  /// both quoted-printable. A non-ASCII subject or display name becomes RFC 2047 encoded words
  /// (UTF-8, B). Rendering never fails: line breaks in header values become spaces, so call
  /// ``validated()`` first to reject such input instead.
  public func rendered() -> [UInt8] {
    var out: [UInt8] = []
    out += MIMEEncoding.mailboxHeader("From", mailbox: from)
    out += MIMEEncoding.mailboxHeader("To", mailbox: to)
    out += MIMEEncoding.unstructuredHeader("Subject", value: subject)
    out += MIMEEncoding.header("Date", tokens: [MIMEEncoding.rfc5322Date(date)])
    out += MIMEEncoding.header("Message-ID", tokens: [MIMEEncoding.oneLine(messageID)])
    out += MIMEEncoding.header("MIME-Version", tokens: ["1.0"])
    for header in extraHeaders {
      let name = String(header.name.unicodeScalars.filter { (0x21...0x7E).contains($0.value) && $0 != ":" })
      guard !name.isEmpty else { continue }
      out += MIMEEncoding.unstructuredHeader(name, value: header.value)
    }
    let textBody = MIMEEncoding.quotedPrintable(MIMEEncoding.crlf(text))
    guard let html else {
      out += Self.textPartHeaders(subtype: "plain")
      out += Array("\r\n".utf8)
      out += textBody
      // The body's last CRLF ends the message (SMTP needs one); a reader drops it again.
      out += Array("\r\n".utf8)
      return out
    }
    let boundary = Self.makeBoundary()
    out += MIMEEncoding.header("Content-Type", tokens: ["multipart/alternative;", "boundary=\"\(boundary)\""])
    out += Array("\r\nThis is a multi-part message in MIME format.\r\n".utf8)
    out += Array("\r\n--\(boundary)\r\n".utf8)
    out += Self.textPartHeaders(subtype: "plain")
    out += Array("\r\n".utf8)
    out += textBody
    out += Array("\r\n--\(boundary)\r\n".utf8)
    out += Self.textPartHeaders(subtype: "html")
    out += Array("\r\n".utf8)
    out += MIMEEncoding.quotedPrintable(MIMEEncoding.crlf(html))
    out += Array("\r\n--\(boundary)--\r\n".utf8)
    return out
  }

  private static func textPartHeaders(subtype: String) -> [UInt8] {
    Array("Content-Type: text/\(subtype); charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n".utf8)
  }

  /// `=_` cannot occur in quoted-printable output, so no part can contain the boundary.
  private static func makeBoundary() -> String {
    var generator = SystemRandomNumberGenerator()
    let hex = (0..<16).map { _ in
      let byte = UInt8.random(in: 0...255, using: &generator)
      return String(byte, radix: 16).count == 1 ? "0" + String(byte, radix: 16) : String(byte, radix: 16)
    }
    return "=_courier_" + hex.joined()
  }
}
