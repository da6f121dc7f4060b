/// Where and how ``SMTPTransport`` submits mail.
public struct SMTPConfiguration: Sendable {
  /// How the connection is protected.
  public enum Security: String, Sendable {
    /// Plain text (a relay on loopback, tests).
    case none
    /// Plain connect, then `STARTTLS`; the upgrade is required, never skipped.
    case startTLS = "starttls"
    /// TLS from the first byte (SMTPS, usually port 465).
    case implicitTLS = "tls"
  }

  public var host: String
  public var port: Int
  public var security: Security
  /// With a username, the transport authenticates (AUTH PLAIN or LOGIN, as the server offers).
  public var username: String?
  public var password: String?
  /// The longest one send may take, connection and TLS included.
  public var timeout: Duration
  /// A PEM file of one more CA to trust besides the system's (tests use a self-signed cert).
  public var caFile: String?
  /// The name given in EHLO.
  public var heloName: String

  public init(
    host: String, port: Int = 587, security: Security = .startTLS, username: String? = nil,
    password: String? = nil, timeout: Duration = .seconds(30), caFile: String? = nil, heloName: String = "localhost"
  ) {
    self.host = host
    self.port = port
    self.security = security
    self.username = username
    self.password = password
    self.timeout = timeout
    self.caFile = caFile
    self.heloName = heloName
  }
}
