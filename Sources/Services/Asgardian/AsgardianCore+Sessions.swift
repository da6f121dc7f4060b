import ContractRuntime
import Logging
import Foundation
package import Generated
import GRPCCore
import Postgres
import SwiftProtobuf

/// The outcome of a session's start or refresh: tokens and whom they speak for.
package struct IssuedSession: Sendable {
  package var tokens: Courier_Asgardian_V1_SessionTokens
  package var principal: Courier_Asgardian_V1_Principal
}

/// An access token's verdict.
package enum TokenVerdict: Sendable {
  case accepted(Courier_Asgardian_V1_Principal)
  case rejected(Courier_Asgardian_V1_TokenRejection)
}

extension AsgardianCore {
  // MARK: Login

  /// Checks email and password and starts a session (AccountService.Login and
  /// IdentityService.GetUserLoginTokenData).
  ///
  /// Unknown email and wrong password give the same UNAUTHENTICATED and cost the same scrypt work
  /// (a dummy hash is checked for unknown emails). Failures are counted per account and per client
  /// address; once either has ``AsgardianConfiguration/loginLimit`` failures in the window, further
  /// attempts get RESOURCE_EXHAUSTED with `retry-after` before any password is checked.
  package func login(email rawEmail: String, password: String) async throws -> IssuedSession {
    guard !rawEmail.isEmpty else { throw Validation.invalid("email", "is required") }
    guard !password.isEmpty else { throw Validation.invalid("password", "is required") }
    let accountKey = rawEmail.trimmingCharacters(in: .whitespaces).lowercased()
    let addressKey = CallContext.current?.clientAddress
    let started = now()
    if let wait = loginFailuresByAccount.check(accountKey, now: started) {
      throw tooMany("too many failed logins for this account", retryAfter: wait)
    }
    if let addressKey, let wait = loginFailuresByAddress.check(addressKey, now: started) {
      throw tooMany("too many failed logins from this address", retryAfter: wait)
    }
    return try await rpc {
      let rows = try await pool.query(
        "SELECT * FROM asgardian.user_rows WHERE lower(email) = \(accountKey) AND NOT deleted")
      let found = try rows.first.map(UserRow.init)
      let hasher = self.hasher
      let verification: PasswordHasher.Verification = try await Task.detached {
        guard let hash = found?.passwordHash else { return hasher.verifyAgainstDummy(password) }
        return try hasher.verify(password, against: hash)
      }.value
      guard let user = found, case .match(let needsRehash) = verification else {
        loginFailuresByAccount.record(accountKey, now: now())
        if let addressKey { loginFailuresByAddress.record(addressKey, now: now()) }
        throw RPCError(code: .unauthenticated, message: "the email or the password is wrong")
      }
      guard !user.disabled else {
        throw RPCError(code: .permissionDenied, message: "this account is disabled; contact an administrator")
      }
      loginFailuresByAccount.reset(accountKey)
      let newHash: String? = if needsRehash { try await hashPassword(password) } else { nil }
      return try await pool.withTransaction { tx in
        let moment = now()
        if let newHash {
          try await tx.execute("UPDATE asgardian.users SET password_hash = \(newHash) WHERE id = \(user.id)")
        }
        try await tx.execute("UPDATE asgardian.users SET last_login_at = \(moment) WHERE id = \(user.id)")
        return try await startSession(for: user, in: tx, now: moment)
      }
    }
  }

  /// Creates a session (refresh-token family) with its first token pair.
  func startSession(for user: UserRow, in tx: PostgresTransaction, now moment: Date) async throws -> IssuedSession {
    let session = UUID()
    try await tx.execute(
      "INSERT INTO asgardian.sessions (id, user_id, created_at) VALUES (\(session), \(user.id), \(moment))")
    return try await issue(for: user, session: session, in: tx, now: moment)
  }

  /// A new access token and a new refresh token (stored hashed) in `session`.
  func issue(for user: UserRow, session: UUID, in tx: PostgresTransaction, now moment: Date) async throws -> IssuedSession {
    let refresh = Base64URL.randomToken()
    let refreshExpiry = moment.addingTimeInterval(Self.seconds(configuration.refreshTokenLifetime))
    try await tx.execute(
      """
      INSERT INTO asgardian.refresh_tokens (token_hash, session_id, issued_at, expires_at)
      VALUES (\(Self.digest(refresh)), \(session), \(moment), \(refreshExpiry))
      """)
    let sessionText = session.uuidString.lowercased()
    let claims = tokens.claims(user: user.idText, roles: user.roleNames, session: sessionText, now: moment)
    let access = try tokens.sign(claims)
    let accessExpiry = Date(timeIntervalSince1970: TimeInterval(claims.exp))

    var issued = Courier_Asgardian_V1_SessionTokens()
    issued.accessToken = access
    issued.accessTokenExpiresAt = Google_Protobuf_Timestamp(microsecondsOf: accessExpiry)
    issued.refreshToken = refresh
    issued.refreshTokenExpiresAt = Google_Protobuf_Timestamp(microsecondsOf: refreshExpiry)
    var principal = Courier_Asgardian_V1_Principal()
    principal.userID = user.idText
    principal.roles = Roles.roles(user.roles)
    principal.sessionID = sessionText
    principal.expiresAt = issued.accessTokenExpiresAt
    return IssuedSession(tokens: issued, principal: principal)
  }

  // MARK: Refresh

  private enum RefreshOutcome {
    case issued(IssuedSession)
    case refused(RPCError)
  }

  /// Rotates a refresh token (AccountService.RefreshToken). A token that was already rotated ends its
  /// whole session: someone replayed it.
  package func refresh(_ token: String) async throws -> IssuedSession {
    guard !token.isEmpty else { throw Validation.invalid("refresh_token", "is required") }
    let unauthenticated = RPCError(code: .unauthenticated, message: "the refresh token is unknown, expired, already used or its session ended")
    let outcome: RefreshOutcome = try await rpc {
      try await pool.withTransaction { tx -> RefreshOutcome in
        let moment = now()
        let rows = try await tx.query(
          """
          SELECT r.session_id, r.expires_at, r.used_at, s.revoked_at, s.user_id
          FROM asgardian.refresh_tokens r JOIN asgardian.sessions s ON s.id = r.session_id
          WHERE r.token_hash = \(Self.digest(token))
          FOR UPDATE OF r, s
          """)
        guard let row = rows.first else { return .refused(unauthenticated) }
        let (session, expiresAt, usedAt, revokedAt, userID) = try row.decode((UUID, Date, Date?, Date?, UUID).self)
        if revokedAt != nil { return .refused(unauthenticated) }
        if usedAt != nil {
          // Reuse of a rotated token: end the session, commit that, then refuse.
          try await tx.execute(
            """
            UPDATE asgardian.sessions SET revoked_at = \(moment), revoked_reason = 'refresh token reused'
            WHERE id = \(session) AND revoked_at IS NULL
            """)
          logger.warning("refresh token reused; session revoked", metadata: ["session_id": "\(session)", "user_id": "\(userID)"])
          return .refused(unauthenticated)
        }
        guard expiresAt > moment else { return .refused(unauthenticated) }
        guard let user = try await self.user(userID, in: tx), !user.deleted else { return .refused(unauthenticated) }
        guard !user.disabled else {
          return .refused(RPCError(code: .permissionDenied, message: "this account is disabled; contact an administrator"))
        }
        try await tx.execute("UPDATE asgardian.refresh_tokens SET used_at = \(moment) WHERE token_hash = \(Self.digest(token))")
        return .issued(try await issue(for: user, session: session, in: tx, now: moment))
      }
    }
    switch outcome {
    case .issued(let session): return session
    case .refused(let error): throw error
    }
  }

  // MARK: Logout

  /// Ends the caller's current session, or all of them (AccountService.Logout). Returns how many
  /// sessions this call ended.
  package func logout(allSessions: Bool) async throws -> Int {
    let caller = try requireCaller()
    let userID = try Validation.userID(caller.userID)
    return try await rpc {
      let moment = now()
      if allSessions {
        return try await pool.execute(
          """
          UPDATE asgardian.sessions SET revoked_at = \(moment), revoked_reason = 'logout (all sessions)'
          WHERE user_id = \(userID) AND revoked_at IS NULL
          """)
      }
      guard let text = caller.sessionID, let session = UUID(uuidString: text) else {
        throw RPCError(code: .unauthenticated, message: "the access token names no session; log in again")
      }
      return try await pool.execute(
        """
        UPDATE asgardian.sessions SET revoked_at = \(moment), revoked_reason = 'logout'
        WHERE id = \(session) AND user_id = \(userID) AND revoked_at IS NULL
        """)
    }
  }

  /// Ends every open session of a user in `tx`; returns how many.
  func revokeSessions(of user: UUID, reason: String, in tx: PostgresTransaction, now moment: Date) async throws -> Int {
    try await tx.execute(
      """
      UPDATE asgardian.sessions SET revoked_at = \(moment), revoked_reason = \(reason)
      WHERE user_id = \(user) AND revoked_at IS NULL
      """)
  }

  // MARK: Token check

  /// Checks an access token: signature and key id, expiry, then (one query) that its session is not
  /// revoked and its user is active. Returns the principal with the roles the user holds now.
  package func authenticate(_ token: String) async throws -> TokenVerdict {
    let moment = now()
    let claims: AccessTokenClaims
    do {
      claims = try tokens.verify(token, now: moment)
    } catch AccessTokenFailure.expired {
      return .rejected(.expired)
    } catch {
      return .rejected(.malformed)
    }
    guard let session = UUID(uuidString: claims.sid), let userID = UUID(uuidString: claims.sub) else {
      return .rejected(.malformed)
    }
    return try await rpc {
      let rows = try await pool.query(
        """
        SELECT s.revoked_at IS NOT NULL, u.disabled OR u.deleted, u.roles
        FROM asgardian.sessions s JOIN asgardian.user_rows u ON u.id = s.user_id
        WHERE s.id = \(session) AND s.user_id = \(userID)
        """)
      guard let row = rows.first else { return .rejected(.malformed) }
      let (revoked, inactive, roles) = try row.decode((Bool, Bool, String).self)
      if revoked { return .rejected(.revoked) }
      if inactive { return .rejected(.accountInactive) }
      var principal = Courier_Asgardian_V1_Principal()
      principal.userID = claims.sub
      principal.roles = Roles.roles(roles.split(separator: ",").map(String.init))
      principal.sessionID = claims.sid
      principal.expiresAt = Google_Protobuf_Timestamp(seconds: claims.exp)
      return .accepted(principal)
    }
  }

  static func seconds(_ duration: Duration) -> TimeInterval {
    let parts = duration.components
    return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
  }
}
