/// What became of one attempt to hand a mail over.
public enum MailSendOutcome: Sendable, Equatable {
  /// Accepted; `detail` is the server's reply (SMTP) or the stored file's id (mail drop).
  case sent(detail: String)
  /// Not accepted this time, may succeed later: connection refused or timed out, TLS failure, a
  /// 4xx reply. Retry with backoff.
  case transient(String)
  /// Will not be accepted as it is: a 5xx reply, authentication refused, an invalid message.
  case permanent(String)
}

/// Something that delivers a ``MailMessage``: ``SMTPTransport`` or ``MailDropTransport``.
///
/// `send` never throws: every failure is an outcome, classified for the caller's retry policy.
public protocol MailTransport: Sendable {
  func send(_ message: MailMessage) async -> MailSendOutcome
}
