import Foundation
import Mail
import Testing

@Suite("MailMessage rendering")
struct MailMessageRenderingTests {
  let awkwardText = """
    Hello Ann,

    Grüße aus Köln: your payload "Bücher – 📦" moved. = signs = stay, tabs\tstay, trailing spaces stay   
    .a line that starts with a dot
    From the depot, a line starting with From
    \(String(repeating: "A very long line without a break. ", count: 12))
    \(String(repeating: "x", count: 300))
    \(String(repeating: "é", count: 100))

    Bye
    """

  func message(html: String? = nil, subject: String = "Your payload moved") -> MailMessage {
    MailMessage(
      from: courier, to: ann, subject: subject, text: awkwardText, html: html,
      date: Date(timeIntervalSince1970: 1_700_000_000),
      extraHeaders: [(name: "X-Courier-Delivery-Id", value: "delivery-42")])
  }

  @Test("the header fields are there, in RFC 5322 form")
  func headers() throws {
    let sample = message()
    let raw = sample.rendered()
    let lines = headerLines(raw)
    #expect(lines.contains("From: Courier <noreply@courier.example>"))
    #expect(lines.contains("To: Ann Example <ann@example.com>"))
    #expect(lines.contains("Subject: Your payload moved"))
    #expect(lines.contains("Date: Tue, 14 Nov 2023 22:13:20 +0000"))
    #expect(lines.contains("Message-ID: \(sample.messageID)"))
    #expect(lines.contains("MIME-Version: 1.0"))
    #expect(lines.contains("X-Courier-Delivery-Id: delivery-42"))
    #expect(lines.contains("Content-Type: text/plain; charset=utf-8"))
    #expect(lines.contains("Content-Transfer-Encoding: quoted-printable"))

    let id = sample.messageID
    #expect(id.hasPrefix("<") && id.hasSuffix("@courier.example>"))
    #expect(UUID(uuidString: String(id.dropFirst().prefix { $0 != "@" })) != nil)
    #expect(message().messageID != id)
    #expect(
      MailMessage(from: courier, to: ann, subject: "", text: "", date: Date(timeIntervalSince1970: 0)).rendered()
        .starts(with: Array("From:".utf8)))
    #expect(
      headerLines(MailMessage(from: courier, to: ann, subject: "", text: "", date: Date(timeIntervalSince1970: 0)).rendered())
        .contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"))
  }

  @Test("quoted-printable text survives a round trip through MIMEReader", arguments: [false, true])
  func quotedPrintableRoundTrip(withHTML: Bool) throws {
    let html = withHTML ? "<p>Grüße = \(String(repeating: "<b>long</b> ", count: 30))</p>\n" : nil
    let raw = message(html: html).rendered()
    let parsed = try MIMEReader.parse(raw)
    #expect(parsed.text == awkwardText)
    #expect(parsed.html == (html ?? ""))
    #expect(header("Subject", in: parsed.headers) == "Your payload moved")
    #expect(header("X-Courier-Delivery-Id", in: parsed.headers) == "delivery-42")
    // The body is 7-bit: every byte of the QP text is ASCII, no encoded line is over 76.
    #expect(raw.allSatisfy { $0 < 0x80 })
    let bodyLines = crlfLines(raw).drop { !$0.isEmpty }
    #expect(bodyLines.allSatisfy { $0.utf8.count <= 76 })
    #expect(bodyLines.contains { $0.hasSuffix("=") })  // soft breaks were needed
  }

  @Test("text without and with a final line end round-trip exactly", arguments: ["Hello", "Hello\n", "", "\n\nA\n"])
  func finalLineEnd(text: String) throws {
    let plain = MailMessage(from: courier, to: ann, subject: "s", text: text)
    #expect(try MIMEReader.parse(plain.rendered()).text == text)
    let alternative = MailMessage(from: courier, to: ann, subject: "s", text: text, html: text)
    let parsed = try MIMEReader.parse(alternative.rendered())
    #expect(parsed.text == text)
    #expect(parsed.html == text)
  }

  @Test("with HTML: multipart/alternative, text part first, a fresh boundary each time")
  func multipartStructure() throws {
    let sample = message(html: "<p>Hi</p>")
    let raw = sample.rendered()
    let lines = crlfLines(raw)
    let contentType = try #require(
      MIMEReader.parse(raw).headers.first { $0.0 == "Content-Type" }?.1)
    #expect(contentType.hasPrefix("multipart/alternative;"))
    let boundary = try #require(contentType.split(separator: "\"").dropFirst().first.map(String.init))
    #expect(boundary.count >= 30)
    let delimiters = lines.enumerated().filter { $0.element == "--\(boundary)" }.map(\.offset)
    let closing = try #require(lines.firstIndex(of: "--\(boundary)--"))
    #expect(delimiters.count == 2)
    #expect(delimiters[1] < closing)
    #expect(lines[delimiters[0] + 1] == "Content-Type: text/plain; charset=utf-8")
    #expect(lines[delimiters[1] + 1] == "Content-Type: text/html; charset=utf-8")
    #expect(lines[delimiters[1] + 2] == "Content-Transfer-Encoding: quoted-printable")
    #expect(!headerLines(raw).contains("Content-Type: text/plain; charset=utf-8"))

    let other = try #require(MIMEReader.parse(sample.rendered()).headers.first { $0.0 == "Content-Type" }?.1)
    #expect(other != contentType)
  }

  @Test("a non-ASCII subject and display names become RFC 2047 encoded words")
  func encodedWords() throws {
    let subject = "Grüße aus Köln – Ihr Paket 📦 ist unterwegs"
    let from = MailAddress(address: "noreply@courier.example", name: "Zoë Ångström")
    let sample = MailMessage(from: from, to: ann, subject: subject, text: "x")
    let raw = sample.rendered()
    let headers = headerLines(raw)
    #expect(headers.joined().utf8.allSatisfy { $0 < 0x80 })
    #expect(headers.contains { $0.hasPrefix("Subject: =?utf-8?B?") })
    #expect(headers.contains { $0.hasPrefix("From: =?utf-8?B?") && $0.hasSuffix("<noreply@courier.example>") })
    let parsed = try MIMEReader.parse(raw)
    #expect(header("Subject", in: parsed.headers) == subject)
    #expect(header("From", in: parsed.headers) == "Zoë Ångström <noreply@courier.example>")
  }

  @Test("long subjects fold to 78-character lines and unfold to the original")
  func folding() throws {
    let long = String(repeating: "Ünïcödé 📦 ", count: 30).trimmingCharacters(in: .whitespaces)
    let ascii = String(repeating: "status update for payload ", count: 10).trimmingCharacters(in: .whitespaces)
    let name = String(repeating: "Ö", count: 100)
    for subject in [long, ascii] {
      let raw = MailMessage(from: MailAddress(address: "a@courier.example", name: name), to: ann, subject: subject, text: "x")
        .rendered()
      let headers = headerLines(raw)
      #expect(headers.allSatisfy { $0.utf8.count <= 78 }, "\(headers.filter { $0.utf8.count > 78 })")
      #expect(headers.filter { $0.hasPrefix(" ") }.count > 2)
      let parsed = try MIMEReader.parse(raw)
      #expect(header("Subject", in: parsed.headers) == subject)
      #expect(header("From", in: parsed.headers) == "\(name) <a@courier.example>")
    }
  }

  @Test("CRLF everywhere, no line over 998, no header injection")
  func lineDiscipline() throws {
    let html = "<p>\n" + String(repeating: "y", count: 5000) + "\r\n</p>\r"
    let sample = MailMessage(
      from: courier, to: ann, subject: "Hi\r\nBcc: eve@example.com", text: awkwardText + "\r\nold mac\rline", html: html,
      extraHeaders: [(name: "X-Note", value: "one\ntwo")])
    let raw = sample.rendered()
    #expect(hasOnlyCRLF(raw))
    #expect(crlfLines(raw).allSatisfy { $0.utf8.count <= 998 })
    #expect(!crlfLines(raw).contains { $0.hasPrefix("Bcc:") })
    #expect(headerLines(raw).contains("Subject: Hi Bcc: eve@example.com"))
    #expect(headerLines(raw).contains("X-Note: one two"))
    #expect(try MIMEReader.parse(raw).html == html.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n"))

    let error = #expect(throws: MailError.self) { try sample.validated() }
    #expect(error?.description == "subject: contains a line break")
    var badHeader = message()
    badHeader.extraHeaders = [(name: "X Bad", value: "v")]
    #expect((try? badHeader.validated()) == nil)
    badHeader.extraHeaders = [(name: "Subject", value: "v")]
    #expect((try? badHeader.validated()) == nil)
    #expect((try? message().validated()) != nil)
  }
}

@Suite("MIMEReader")
struct MIMEReaderTests {
  @Test("reads a base64 html part and a Q-encoded, latin-1 subject")
  func foreignMessage() throws {
    let raw = """
      Subject: =?iso-8859-1?Q?Gr=FC=DFe?= =?utf-8?B?IGF1cyBLw7Zsbg==?=\r
      From: "Doe, John" <john@example.com>\r
      Content-Type: multipart/mixed; boundary=outer\r
      \r
      --outer\r
      Content-Type: multipart/alternative; boundary="inner"\r
      \r
      --inner\r
      Content-Type: text/plain; charset="iso-8859-1"\r
      Content-Transfer-Encoding: quoted-printable\r
      \r
      K=F6ln=\r
       ok\r
      --inner\r
      Content-Type: text/html; charset=utf-8\r
      Content-Transfer-Encoding: base64\r
      \r
      PHA+S8O2bG48L3A+\r
      --inner--\r
      --outer\r
      Content-Type: text/plain\r
      Content-Disposition: attachment; filename=a.txt\r
      \r
      not the body\r
      --outer--\r

      """
    let parsed = try MIMEReader.parse(Array(raw.utf8))
    #expect(header("Subject", in: parsed.headers) == "Grüße aus Köln")
    #expect(header("From", in: parsed.headers) == "\"Doe, John\" <john@example.com>")
    #expect(parsed.text == "Köln ok")
    #expect(parsed.html == "<p>Köln</p>")
  }

  @Test(
    "malformed input is a MailError that says what is wrong",
    arguments: [
      ("", "message: empty"),
      ("no colon here\r\n\r\nbody", "message: header line 1 has no ':'"),
      ("Content-Type: multipart/alternative\r\n\r\nx", "message.Content-Type: multipart without a boundary"),
      ("Content-Type: multipart/alternative; boundary=b\r\n\r\nx", "message.body: no '--b' line in the multipart body"),
      ("Content-Transfer-Encoding: base64\r\n\r\n!!!!", "message.Content-Transfer-Encoding: invalid base64 in the text/plain part"),
      ("Content-Type: text/plain; charset=koi8-r\r\n\r\nx", "message.Content-Type: unsupported charset 'koi8-r'"),
    ])
  func malformed(raw: String, message: String) {
    let error = #expect(throws: MailError.self) { try MIMEReader.parse(Array(raw.utf8)) }
    #expect(error?.description == message)
  }
}
