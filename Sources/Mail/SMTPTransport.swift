/// Submits mail to an SMTP server: plain, STARTTLS or implicit TLS, with AUTH PLAIN/LOGIN.
///
/// The protocol work is libcurl's (Debian's `libcurl4-openssl-dev`), called on one dedicated
/// thread per transport, so a slow server never blocks Swift's cooperative pool. Sends through
/// one transport run one after the other; make more transports for parallel submissions.
/// Outcomes: `.sent` with the server's final reply; `.transient` for a refused or timed-out
/// connection, a TLS failure or a 4xx reply; `.permanent` for a 5xx reply, refused
/// authentication (535) or a message that fails ``MailMessage/validated()``.
public final class SMTPTransport: MailTransport {
  public let configuration: SMTPConfiguration
  private let worker: SMTPWorkerThread

  public init(_ configuration: SMTPConfiguration) {
    self.configuration = configuration
    self.worker = SMTPWorkerThread(name: "smtp \(configuration.host):\(configuration.port)")
  }

  deinit { worker.stop() }

  public func send(_ message: MailMessage) async -> MailSendOutcome {
    let request: CurlSMTPSession.Request
    do {
      request = try makeRequest(try message.validated())
    } catch {
      let what = error.field.hasPrefix("configuration") ? "invalid SMTP configuration" : "invalid message"
      return .permanent("\(what): \(error)")
    }
    let result = await worker.run { CurlSMTPSession.perform(request) }
    return Self.outcome(of: result)
  }

  private func makeRequest(_ message: MailMessage) throws(MailError) -> CurlSMTPSession.Request {
    let scheme = configuration.security == .implicitTLS ? "smtps" : "smtp"
    let hostIsBad = configuration.host.contains { $0 == "/" || $0 == " " || $0 == "@" || $0 == "?" || $0 == "#" }
    guard !configuration.host.isEmpty, !hostIsBad else {
      throw MailError(field: "configuration.host", reason: "'\(configuration.host)' is not a host name or address")
    }
    guard (1...65535).contains(configuration.port) else {
      throw MailError(field: "configuration.port", reason: "\(configuration.port) is not a port")
    }
    guard !configuration.heloName.isEmpty, configuration.heloName.unicodeScalars.allSatisfy(Self.isHeloScalar) else {
      throw MailError(
        field: "configuration.heloName", reason: "'\(configuration.heloName)' is not a domain or address literal")
    }
    let host =
      configuration.host.contains(":") && !configuration.host.hasPrefix("[") ? "[\(configuration.host)]" : configuration.host
    let timeout = configuration.timeout.components
    let milliseconds = max(1, Int(timeout.seconds) * 1000 + Int(timeout.attoseconds / 1_000_000_000_000_000))
    return CurlSMTPSession.Request(
      url: "\(scheme)://\(host):\(configuration.port)/\(configuration.heloName)",
      requireTLS: configuration.security != .none,
      caFile: configuration.caFile,
      username: configuration.username,
      password: configuration.password,
      timeoutMilliseconds: milliseconds,
      sender: message.from.address,
      recipients: [message.to.address],
      payload: message.rendered())
  }

  /// ASCII letters, digits and `-.[]:` (a domain or an address literal).
  private static func isHeloScalar(_ scalar: Unicode.Scalar) -> Bool {
    guard scalar.isASCII else { return false }
    return scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-.[]:".unicodeScalars.contains(scalar)
  }

  /// The retry class of a libcurl result: the SMTP reply code decides when the server answered,
  /// the kind of failure otherwise.
  static func outcome(of result: CurlSMTPSession.Result) -> MailSendOutcome {
    guard let failure = result.failure else {
      return .sent(detail: result.lastReply.isEmpty ? "\(result.replyCode)" : result.lastReply)
    }
    var text = result.message
    if !result.lastReply.isEmpty && (failure == .conversation || failure == .loginDenied) {
      text += " (server: \(result.lastReply))"
    }
    switch failure {
    case .conversation, .loginDenied:
      if (400..<500).contains(result.replyCode) { return .transient(text) }
      if (500..<600).contains(result.replyCode) { return .permanent(text) }
      return failure == .loginDenied ? .permanent(text) : .transient(text)
    case .connect, .timeout, .tls:
      return .transient(text)
    case .configuration:
      return .permanent(text)
    }
  }
}
