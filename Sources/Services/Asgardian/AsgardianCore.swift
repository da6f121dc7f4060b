import ContractRuntime
package import EventSource
package import Foundation
import GRPCCore
package import Logging
package import Postgres

/// Asgardian's settings that are not connections.
public struct AsgardianConfiguration: Sendable {
  /// The signing and verification keys of access tokens.
  public var keys: TokenKeySet
  /// How long an access token is accepted: 15 minutes.
  public var accessTokenLifetime: Duration
  /// How long a refresh token is accepted: 30 days.
  public var refreshTokenLifetime: Duration
  /// How long a password reset token is accepted: 30 minutes.
  public var recoveryTokenLifetime: Duration
  /// The page of the user client that resets a password; the mail links to it with `?token=...`.
  public var resetURL: String
  /// scrypt parameters of new password hashes.
  public var passwordParameters: PasswordHasher.Parameters
  /// Failed logins allowed per account and per client address within `loginWindow`: 10 a minute.
  public var loginLimit: Int
  public var loginWindow: Duration
  /// Sign-ups allowed per client address within `signUpWindow`: 10 in 10 minutes.
  public var signUpLimit: Int
  public var signUpWindow: Duration
  /// Recovery requests allowed per email and per client address within `recoveryWindow`: 5 in 15 minutes.
  public var recoveryLimit: Int
  public var recoveryWindow: Duration

  public init(
    keys: TokenKeySet,
    accessTokenLifetime: Duration = .seconds(15 * 60),
    refreshTokenLifetime: Duration = .seconds(30 * 24 * 3600),
    recoveryTokenLifetime: Duration = .seconds(30 * 60),
    resetURL: String = "http://127.0.0.1:8080/app/recover",
    passwordParameters: PasswordHasher.Parameters = .defaults,
    loginLimit: Int = 10, loginWindow: Duration = .seconds(60),
    signUpLimit: Int = 10, signUpWindow: Duration = .seconds(600),
    recoveryLimit: Int = 5, recoveryWindow: Duration = .seconds(900)
  ) {
    self.keys = keys
    self.accessTokenLifetime = accessTokenLifetime
    self.refreshTokenLifetime = refreshTokenLifetime
    self.recoveryTokenLifetime = recoveryTokenLifetime
    self.resetURL = resetURL
    self.passwordParameters = passwordParameters
    self.loginLimit = loginLimit
    self.loginWindow = loginWindow
    self.signUpLimit = signUpLimit
    self.signUpWindow = signUpWindow
    self.recoveryLimit = recoveryLimit
    self.recoveryWindow = recoveryWindow
  }
}

/// Asgardian's domain logic over Postgres: accounts, passwords, sessions, tokens and recovery. The
/// three generated service conformances (``IdentityServiceImpl``, ``AccountServiceImpl``,
/// ``UserAdminServiceImpl``) are thin adapters over it.
public final class AsgardianCore: Sendable {
  let pool: PostgresPool
  let events: EventStore
  let configuration: AsgardianConfiguration
  let hasher: PasswordHasher
  let tokens: AccessTokens
  let mailer: any MailSending
  let logger: Logger
  let now: @Sendable () -> Date
  let loginFailuresByAccount: AttemptLimiter
  let loginFailuresByAddress: AttemptLimiter
  let signUps: AttemptLimiter
  let recoveriesByAccount: AttemptLimiter
  let recoveriesByAddress: AttemptLimiter

  /// - Parameters:
  ///   - events: the event store that `UserCreated` is appended to, in the sign-up's transaction.
  ///   - mailer: sends the recovery mail.
  ///   - now: the clock; tests pass their own to move time.
  package init(
    pool: PostgresPool, events: EventStore, configuration: AsgardianConfiguration, mailer: any MailSending,
    logger: Logger = Logger(label: "courier.asgardian"), now: @escaping @Sendable () -> Date = { Date() }
  ) {
    self.pool = pool
    self.events = events
    self.configuration = configuration
    self.hasher = PasswordHasher(parameters: configuration.passwordParameters)
    self.tokens = AccessTokens(keys: configuration.keys, lifetime: configuration.accessTokenLifetime)
    self.mailer = mailer
    self.logger = logger
    self.now = now
    self.loginFailuresByAccount = AttemptLimiter(limit: configuration.loginLimit, window: configuration.loginWindow)
    self.loginFailuresByAddress = AttemptLimiter(limit: configuration.loginLimit, window: configuration.loginWindow)
    self.signUps = AttemptLimiter(limit: configuration.signUpLimit, window: configuration.signUpWindow)
    self.recoveriesByAccount = AttemptLimiter(limit: configuration.recoveryLimit, window: configuration.recoveryWindow)
    self.recoveriesByAddress = AttemptLimiter(limit: configuration.recoveryLimit, window: configuration.recoveryWindow)
  }

  /// Creates or updates Asgardian's tables (under the migration lock).
  @discardableResult
  public func migrate() async throws -> [Int] {
    try await pool.migrate(schema: AsgardianSchema.name, migrations: AsgardianSchema.migrations)
  }

  // MARK: Helpers shared by the operations

  /// The authenticated caller, or UNAUTHENTICATED.
  func requireCaller() throws(RPCError) -> Caller {
    guard let caller = CallContext.current?.caller else {
      throw RPCError(code: .unauthenticated, message: "this call needs a valid access token")
    }
    return caller
  }

  /// The authenticated caller holding `admin`, or UNAUTHENTICATED / PERMISSION_DENIED.
  func requireAdmin() throws(RPCError) -> Caller {
    let caller = try requireCaller()
    guard caller.roles.contains("admin") else {
      throw RPCError(code: .permissionDenied, message: "this call needs the role admin")
    }
    return caller
  }

  /// RESOURCE_EXHAUSTED with the `retry-after` metadata (whole seconds) that the gateway turns
  /// into a `Retry-After` header.
  func tooMany(_ what: String, retryAfter wait: Duration) -> RPCError {
    let seconds = max(1, wait.components.seconds + (wait.components.attoseconds > 0 ? 1 : 0))
    var metadata = Metadata()
    metadata.addString(String(seconds), forKey: "retry-after")
    return RPCError(code: .resourceExhausted, message: "\(what); retry in \(seconds) s", metadata: metadata)
  }

  /// Maps database trouble to UNAVAILABLE and keeps RPC errors; anything else is INTERNAL.
  func mapped(_ error: any Error) -> any Error {
    switch error {
    case is RPCError: return error
    case let error as PostgresError where error.code != .server && error.code != .decoding:
      return RPCError(code: .unavailable, message: "the user database is unreachable; retry", cause: error)
    default:
      logger.error("call failed", metadata: ["error": "\(error)", "request_id": "\(CallContext.current?.requestID ?? "-")"])
      return RPCError(code: .internalError, message: "internal error; quote request id \(CallContext.current?.requestID ?? "-")", cause: error)
    }
  }

  /// Runs `body`, turning its errors into the RPC errors the proto documents.
  func rpc<T>(_ body: () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch {
      throw mapped(error)
    }
  }

  /// Hashes in a detached task: scrypt is tens of milliseconds of CPU, which must not hold the
  /// event loop that runs the calling RPC handler (or the caller's task executor).
  func hashPassword(_ password: String) async throws -> String {
    let hasher = self.hasher
    return try await Task.detached { try hasher.hash(password) }.value
  }

  /// Checks a password in a detached task, as ``hashPassword(_:)`` hashes one.
  func verifyPassword(_ password: String, against stored: String) async throws -> PasswordHasher.Verification {
    let hasher = self.hasher
    return try await Task.detached { try hasher.verify(password, against: stored) }.value
  }

  /// The SHA-256 of an opaque token's text, as stored.
  static func digest(_ token: String) -> [UInt8] {
    TokenDigest.sha256(token)
  }

  /// Headers for events appended during this call.
  var eventHeaders: [String: String] {
    guard let id = CallContext.current?.requestID else { return [:] }
    return ["request-id": id]
  }

  /// Reads one user row.
  func user(_ id: UUID, in tx: PostgresTransaction, lock: Bool = false) async throws -> UserRow? {
    if lock {
      _ = try await tx.query("SELECT 1 FROM asgardian.users WHERE id = \(id) FOR UPDATE")
    }
    let rows = try await tx.query("SELECT * FROM asgardian.user_rows WHERE id = \(id)")
    return try rows.first.map(UserRow.init)
  }

  /// Reads one user row outside a transaction.
  func user(_ id: UUID) async throws -> UserRow? {
    let rows = try await pool.query("SELECT * FROM asgardian.user_rows WHERE id = \(id)")
    return try rows.first.map(UserRow.init)
  }
}
