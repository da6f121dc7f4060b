import Foundation
import Mail
import Testing

/// SMTPTransport against `smtp_server.py` (aiosmtpd) in each mode. Serialized: each test starts
/// its own Python server, and the machine is small.
@Suite("SMTPTransport against aiosmtpd", .serialized)
struct SMTPTransportTests {
  let message = MailMessage(
    from: MailAddress(address: "noreply@courier.example", name: "Courier"),
    to: MailAddress(address: "ann@example.com", name: "Ann Ëxample"),
    subject: "Your payload moved – Köln", text: "Hello Ann,\n\nyour payload moved.\n.\nA dotted line above.\n",
    html: "<p>Hello Ann, your payload <b>moved</b>.</p>",
    extraHeaders: [(name: "X-Courier-Delivery-Id", value: "delivery-7")])

  func configuration(_ port: Int, _ security: SMTPConfiguration.Security = .none) -> SMTPConfiguration {
    SMTPConfiguration(host: "127.0.0.1", port: port, security: security, timeout: .seconds(15), heloName: "iris.courier.test")
  }

  /// Runs `body` with a started server and a fresh folder; stops and removes both afterwards.
  func withServer(
    _ arguments: [String] = [], certificate: Bool = false,
    _ body: (SMTPTestServer, (cert: String, key: String)?) async throws -> Void
  ) async throws {
    let directory = try temporaryDirectory("smtp")
    defer { try? FileManager.default.removeItem(at: directory) }
    let certificate = certificate ? try SMTPTestServer.makeCertificate(in: directory) : nil
    let expanded = arguments.map { $0 == "CERT" ? certificate?.cert ?? $0 : $0 == "KEY" ? certificate?.key ?? $0 : $0 }
    let server = try await SMTPTestServer.start(expanded, directory: directory)
    defer { server.stop() }
    try await body(server, certificate)
  }

  func checkStored(_ server: SMTPTestServer, tls: Bool, login: String?) throws {
    let mails = try server.storedMails()
    try #require(mails.count == 1)
    let (raw, envelope) = mails[0]
    #expect(envelope["mail_from"] as? String == "noreply@courier.example")
    #expect(envelope["rcpt_tos"] as? [String] == ["ann@example.com"])
    #expect(envelope["tls"] as? Bool == tls)
    #expect(envelope["auth_login"] as? String == login)
    let parsed = try MIMEReader.parse(raw)
    #expect(header("Subject", in: parsed.headers) == message.subject)
    #expect(header("To", in: parsed.headers) == "Ann Ëxample <ann@example.com>")
    #expect(header("Message-ID", in: parsed.headers) == message.messageID)
    #expect(header("X-Courier-Delivery-Id", in: parsed.headers) == "delivery-7")
    #expect(parsed.text == message.text)
    #expect(parsed.html == message.html)
  }

  @Test("plain SMTP delivers the mail")
  func plain() async throws {
    try await withServer { server, _ in
      let outcome = await SMTPTransport(configuration(server.port)).send(message)
      guard case .sent(let detail) = outcome else {
        Issue.record("expected .sent, got \(outcome)")
        return
      }
      #expect(detail.hasPrefix("250 2.0.0 OK queued as"))
      try checkStored(server, tls: false, login: nil)
    }
  }

  @Test("STARTTLS (required by the server) with AUTH and a self-signed CA")
  func startTLSAndAuth() async throws {
    try await withServer(["--starttls", "CERT", "KEY", "--require-starttls", "--auth", "iris:s3cret"], certificate: true) {
      server, certificate in
      var configuration = configuration(server.port, .startTLS)
      configuration.username = "iris"
      configuration.password = "s3cret"
      configuration.caFile = certificate?.cert
      let outcome = await SMTPTransport(configuration).send(message)
      guard case .sent = outcome else {
        Issue.record("expected .sent, got \(outcome)")
        return
      }
      try checkStored(server, tls: true, login: "iris")
    }
  }

  @Test("implicit TLS (SMTPS)")
  func implicitTLS() async throws {
    try await withServer(["--tls", "CERT", "KEY"], certificate: true) { server, certificate in
      var configuration = configuration(server.port, .implicitTLS)
      configuration.caFile = certificate?.cert
      let outcome = await SMTPTransport(configuration).send(message)
      guard case .sent = outcome else {
        Issue.record("expected .sent, got \(outcome)")
        return
      }
      try checkStored(server, tls: true, login: nil)
    }
  }

  @Test("a 451 after DATA is transient, and the retry goes through")
  func failFirst() async throws {
    try await withServer(["--fail-first", "1"]) { server, _ in
      let transport = SMTPTransport(configuration(server.port))
      let first = await transport.send(message)
      guard case .transient(let text) = first else {
        Issue.record("expected .transient, got \(first)")
        return
      }
      #expect(text.contains("451 4.3.0 try again later"))
      let stored = try server.storedMails()
      #expect(stored.isEmpty)
      let second = await transport.send(message)
      guard case .sent = second else {
        Issue.record("expected .sent on retry, got \(second)")
        return
      }
      try checkStored(server, tls: false, login: nil)
    }
  }

  @Test("a 550 to RCPT is permanent")
  func rejected() async throws {
    try await withServer(["--reject"]) { server, _ in
      let outcome = await SMTPTransport(configuration(server.port)).send(message)
      guard case .permanent(let text) = outcome else {
        Issue.record("expected .permanent, got \(outcome)")
        return
      }
      #expect(text.contains("550"))
      let stored = try server.storedMails()
      #expect(stored.isEmpty)
    }
  }

  @Test("a wrong password (535) is permanent")
  func wrongPassword() async throws {
    try await withServer(["--starttls", "CERT", "KEY", "--require-starttls", "--auth", "iris:s3cret"], certificate: true) {
      server, certificate in
      var configuration = configuration(server.port, .startTLS)
      configuration.username = "iris"
      configuration.password = "wrong"
      configuration.caFile = certificate?.cert
      let outcome = await SMTPTransport(configuration).send(message)
      guard case .permanent(let text) = outcome else {
        Issue.record("expected .permanent, got \(outcome)")
        return
      }
      #expect(text.contains("535"))
      let stored = try server.storedMails()
      #expect(stored.isEmpty)
    }
  }

  @Test("an untrusted certificate is a transient TLS failure")
  func untrustedCertificate() async throws {
    try await withServer(["--starttls", "CERT", "KEY", "--require-starttls"], certificate: true) { server, _ in
      let outcome = await SMTPTransport(configuration(server.port, .startTLS)).send(message)
      guard case .transient = outcome else {
        Issue.record("expected .transient, got \(outcome)")
        return
      }
      let stored = try server.storedMails()
      #expect(stored.isEmpty)
    }
  }

  @Test("a closed port is transient")
  func closedPort() async throws {
    // Port 1 (tcpmux) is privileged and unused on loopback: connecting is refused at once.
    let outcome = await SMTPTransport(configuration(1)).send(message)
    guard case .transient(let text) = outcome else {
      Issue.record("expected .transient, got \(outcome)")
      return
    }
    #expect(!text.isEmpty)
  }

  @Test("an invalid message or configuration is permanent before any connection")
  func invalidMessage() async {
    var bad = message
    bad.to = MailAddress(address: "ann@localhost")
    let outcome = await SMTPTransport(configuration(1)).send(bad)
    #expect(outcome == .permanent("invalid message: to.address: domain 'localhost' needs at least one dot"))

    var configuration = configuration(1)
    configuration.heloName = "iris host"
    #expect(
      await SMTPTransport(configuration).send(message)
        == .permanent("invalid SMTP configuration: configuration.heloName: 'iris host' is not a domain or address literal"))
    configuration = self.configuration(0)
    #expect(await SMTPTransport(configuration).send(message) == .permanent("invalid SMTP configuration: configuration.port: 0 is not a port"))
  }
}
