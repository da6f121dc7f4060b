import Foundation
import Mail
import ServiceKit

/// Iris' configuration, from environment variables with the defaults of the local stack. Every
/// variable is listed by `courier iris --help-env`.
struct IrisSettings: Sendable {
  enum MailTransportKind: String, Sendable {
    case mailDrop = "maildrop"
    case smtp
  }

  var server: ServerSettings
  var databaseURL: String
  var databasePoolSize: Int
  var mailTransport: MailTransportKind
  var mailDropDirectory: String
  var mailFrom: MailAddress
  var smtp: SMTPConfiguration
  var webPushEnabled: Bool
  var vapidPrivateKey: String?
  var vapidKeyFile: String
  var vapidSubject: String
  var pushTimeout: Duration
  var pushTrustRootsFile: String?
  var retry: RetryPolicy
  var retryPollInterval: Duration

  init(environment env: ServiceEnvironment) throws(ConfigurationError) {
    server = try ServerSettings(prefix: "IRIS", defaultGRPCPort: 50052, defaultHTTPPort: 8082, environment: env)
    databaseURL = env.string(
      "IRIS_DATABASE_URL",
      default: env.string(
        "COURIER_DATABASE_URL", default: "postgresql://courier@127.0.0.1:55432/courier",
        "Postgres connection string (libpq URI or key=value) that every service uses unless it has its own"),
      "Iris' Postgres connection string; its role needs the iris schema")
    databasePoolSize = try env.int("IRIS_DATABASE_POOL_SIZE", default: 8, in: 1...200, "connections in Iris' pool")

    let transport = env.string(
      "IRIS_MAIL_TRANSPORT", default: "maildrop",
      "where mail goes: maildrop (files a person can read through the admin API) or smtp")
    guard let kind = MailTransportKind(rawValue: transport) else {
      throw ConfigurationError(variable: "IRIS_MAIL_TRANSPORT", message: "must be maildrop or smtp, not \"\(transport)\"")
    }
    mailTransport = kind
    mailDropDirectory = env.string("IRIS_MAIL_DROP_DIR", default: "var/mail-drop", "the mail drop's folder")
    let fromAddress = env.string("IRIS_MAIL_FROM", default: "no-reply@courier.localhost", "the From address of every mail")
    let fromName = env.string("IRIS_MAIL_FROM_NAME", default: "Courier", "the From display name")
    do {
      mailFrom = try MailAddress(address: fromAddress, name: fromName).validated(field: "IRIS_MAIL_FROM")
    } catch {
      throw ConfigurationError(variable: "IRIS_MAIL_FROM", message: error.description)
    }

    let security = env.string("IRIS_SMTP_SECURITY", default: "starttls", "none, starttls (required) or tls (implicit)")
    guard let smtpSecurity = SMTPConfiguration.Security(rawValue: security) else {
      throw ConfigurationError(variable: "IRIS_SMTP_SECURITY", message: "must be none, starttls or tls, not \"\(security)\"")
    }
    smtp = SMTPConfiguration(
      host: env.string("IRIS_SMTP_HOST", default: "127.0.0.1", "the SMTP server's host"),
      port: try env.int("IRIS_SMTP_PORT", default: 587, in: 1...65535, "the SMTP server's port"),
      security: smtpSecurity,
      username: env.optionalString("IRIS_SMTP_USERNAME", "SMTP AUTH user; unset for no AUTH"),
      password: env.optionalString("IRIS_SMTP_PASSWORD", "SMTP AUTH password"),
      timeout: try env.duration("IRIS_SMTP_TIMEOUT", default: .seconds(30), "how long one SMTP conversation may take"),
      caFile: env.optionalString("IRIS_SMTP_CA_FILE", "extra CA certificate (PEM) to trust for the SMTP server"),
      heloName: env.string("IRIS_SMTP_HELO", default: "courier.localhost", "the name Iris gives in EHLO"))

    webPushEnabled = try env.bool("IRIS_WEB_PUSH", default: true, "serve web push (needs a VAPID key)")
    vapidPrivateKey = env.optionalString(
      "IRIS_VAPID_PRIVATE_KEY", "the VAPID P-256 private key, 32 bytes base64url; overrides IRIS_VAPID_KEY_FILE")
    vapidKeyFile = env.string(
      "IRIS_VAPID_KEY_FILE", default: "var/iris/vapid-private-key",
      "file holding the VAPID private key (base64url); made on first start when missing")
    vapidSubject = env.string(
      "IRIS_VAPID_SUBJECT", default: "mailto:ops@courier.localhost", "the VAPID `sub` claim: a mailto: or https: contact")
    pushTimeout = try env.duration("IRIS_PUSH_TIMEOUT", default: .seconds(10), "how long one push request may take")
    pushTrustRootsFile = env.optionalString(
      "IRIS_PUSH_CA_FILE", "extra CA certificates (PEM) to trust for push services, besides the system's")

    retry = RetryPolicy(
      baseDelay: try env.duration("IRIS_RETRY_BASE_DELAY", default: .seconds(5), "wait after the first failed try; doubles each time"),
      maxDelay: try env.duration("IRIS_RETRY_MAX_DELAY", default: .seconds(600), "the longest wait between tries"),
      maxAttempts: try env.int("IRIS_MAX_ATTEMPTS", default: 8, in: 1...100, "tries in all before a delivery is FAILED"),
      lease: try env.duration("IRIS_SEND_LEASE", default: .seconds(120), "how long a try may take before another process retries it"))
    retryPollInterval = try env.duration(
      "IRIS_RETRY_POLL_INTERVAL", default: .seconds(2), "the longest pause of the retry worker between looks at the table")
  }
}
