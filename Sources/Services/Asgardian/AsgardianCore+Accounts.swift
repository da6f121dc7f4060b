import ContractRuntime
import EventSource
import Logging
import Foundation
package import Generated
import GRPCCore
import Postgres
import SwiftProtobuf

/// What a sign-up made.
package struct SignedUp: Sendable {
  package var user: UserRow
  package var session: IssuedSession
}

extension AsgardianCore {
  // MARK: Sign-up

  /// Creates an account with role `user`, appends `UserCreated` in the same transaction, and starts
  /// its first session (AccountService.SignUp). On a validation error nothing is written.
  package func signUp(_ request: Courier_Asgardian_V1_SignUpRequest) async throws -> SignedUp {
    let email = try Validation.email(request.email)
    let password = try Validation.password(request.password)
    let displayName = try Validation.displayName(request.displayName)
    let phone = try Validation.phoneNumber(request.phoneNumber)
    if let address = CallContext.current?.clientAddress {
      if let wait = signUps.check(address, now: now()) {
        throw tooMany("too many sign-ups from this address", retryAfter: wait)
      }
      signUps.record(address, now: now())
    }
    return try await rpc {
      let hash = try await hashPassword(password)
      do {
        return try await createUser(
          email: email, displayName: displayName, phone: phone, roles: ["user"], passwordHash: hash, startSession: true)
      } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
        throw RPCError(code: .alreadyExists, message: "an account with this email already exists")
      }
    }
  }

  /// Inserts a user and its `UserCreated` event in one transaction; optionally starts a session.
  func createUser(
    email: String, displayName: String, phone: String, roles: [String], passwordHash: String, startSession start: Bool
  ) async throws -> SignedUp {
    let headers = eventHeaders
    return try await pool.withTransaction { tx in
      let moment = now()
      let id = UUID()
      let rolesText = roles.joined(separator: ",")
      try await tx.execute(
        """
        INSERT INTO asgardian.users (id, email, display_name, phone_number, roles, password_hash, created_at, updated_at)
        VALUES (\(id), \(email), \(displayName), \(phone), string_to_array(\(rolesText), ','), \(passwordHash), \(moment), \(moment))
        """)
      var event = Courier_Events_V1_UserCreated()
      event.userID = id.uuidString.lowercased()
      event.email = email
      event.displayName = displayName
      event.occurredAt = Google_Protobuf_Timestamp(microsecondsOf: moment)
      try await events.append(event, in: tx, headers: headers, occurredAt: moment)
      guard let user = try await self.user(id, in: tx) else {
        throw RPCError(code: .internalError, message: "the new user \(id) cannot be read back")
      }
      var session = IssuedSession(tokens: .init(), principal: .init())
      if start { session = try await startSession(for: user, in: tx, now: moment) }
      return SignedUp(user: user, session: session)
    }
  }

  // MARK: Profile

  /// The caller's own account (AccountService.GetProfileData).
  package func profile() async throws -> UserRow {
    let caller = try requireCaller()
    let id = try Validation.userID(caller.userID)
    return try await rpc {
      guard let user = try await self.user(id), !user.deleted else {
        throw RPCError(code: .unauthenticated, message: "the account of this token no longer exists")
      }
      return user
    }
  }

  /// Changes the present fields of the caller's own account (AccountService.UpdateProfileData).
  /// Every present field is validated before anything is written.
  package func updateProfile(_ request: Courier_Asgardian_V1_UpdateProfileDataRequest) async throws -> UserRow {
    let caller = try requireCaller()
    let id = try Validation.userID(caller.userID)
    let email: String? = if request.hasEmail { try Validation.email(request.email.value) } else { nil }
    let name: String? = if request.hasDisplayName { try Validation.displayName(request.displayName.value) } else { nil }
    let phone: String? = if request.hasPhoneNumber { try Validation.phoneNumber(request.phoneNumber.value) } else { nil }
    let mail = request.hasTrackingMailEnabled ? request.trackingMailEnabled.value : nil
    let push = request.hasTrackingPushEnabled ? request.trackingPushEnabled.value : nil
    return try await rpc {
      guard let current = try await self.user(id), !current.deleted, let currentEmail = current.email else {
        throw RPCError(code: .unauthenticated, message: "the account of this token no longer exists")
      }
      let emailChanges = email.map { $0 != currentEmail } ?? false
      if emailChanges {
        guard !request.currentPassword.isEmpty, let hash = current.passwordHash,
          case .match = try await self.verifyPassword(request.currentPassword, against: hash)
        else {
          throw RPCError(code: .permissionDenied, message: "changing the email needs the correct current_password")
        }
      }
      do {
        return try await pool.withTransaction { tx in
          let moment = now()
          try await tx.execute(
            """
            UPDATE asgardian.users SET
              email = coalesce(\(email), email),
              display_name = coalesce(\(name), display_name),
              phone_number = coalesce(\(phone), phone_number),
              tracking_mail_enabled = coalesce(\(mail), tracking_mail_enabled),
              tracking_push_enabled = coalesce(\(push), tracking_push_enabled),
              updated_at = \(moment)
            WHERE id = \(id) AND NOT deleted
            """)
          guard let user = try await self.user(id, in: tx) else {
            throw RPCError(code: .unauthenticated, message: "the account of this token no longer exists")
          }
          return user
        }
      } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
        throw RPCError(code: .alreadyExists, message: "another account already uses this email")
      }
    }
  }

  // MARK: Recovery

  /// Starts password recovery (AccountService.RequestPasswordRecover): for an active account, stores
  /// a reset token's hash and has Iris mail the link. Answers the same whether or not the account
  /// exists; a mail that Iris did not take is logged, not reported.
  package func requestRecovery(email rawEmail: String) async throws {
    let email = try Validation.email(rawEmail)
    let key = email.lowercased()
    let moment = now()
    if let wait = recoveriesByAccount.check(key, now: moment) {
      throw tooMany("too many recovery requests for this email", retryAfter: wait)
    }
    if let address = CallContext.current?.clientAddress {
      if let wait = recoveriesByAddress.check(address, now: moment) {
        throw tooMany("too many recovery requests from this address", retryAfter: wait)
      }
      recoveriesByAddress.record(address, now: moment)
    }
    recoveriesByAccount.record(key, now: moment)
    let mail: AccountMail? = try await rpc {
      try await pool.withTransaction { tx -> AccountMail? in
        let rows = try await tx.query(
          "SELECT * FROM asgardian.user_rows WHERE lower(email) = \(key) AND NOT deleted AND NOT disabled")
        guard let user = try rows.first.map(UserRow.init), let address = user.email else { return nil }
        let token = Base64URL.randomToken()
        let tokenID = UUID()
        let expiry = moment.addingTimeInterval(Self.seconds(configuration.recoveryTokenLifetime))
        try await tx.execute(
          """
          INSERT INTO asgardian.recovery_tokens (id, token_hash, user_id, created_at, expires_at)
          VALUES (\(tokenID), \(Self.digest(token)), \(user.id), \(moment), \(expiry))
          """)
        let separator = configuration.resetURL.contains("?") ? "&" : "?"
        return AccountMail(
          idempotencyKey: "recover:" + tokenID.uuidString.lowercased(), address: address, displayName: user.displayName,
          userID: user.idText, template: .passwordRecover,
          variables: [
            "display_name": user.displayName,
            "reset_url": configuration.resetURL + separator + "token=" + token,
            "expires_in_minutes": String(configuration.recoveryTokenLifetime.components.seconds / 60),
          ])
      }
    }
    guard let mail else { return }
    do {
      try await mailer.send(mail)
    } catch {
      logger.error(
        "the recovery mail could not be handed to Iris",
        metadata: ["user_id": "\(mail.userID)", "error": "\(error)", "request_id": "\(CallContext.current?.requestID ?? "-")"])
    }
  }

  /// Sets a new password with a reset token (AccountService.ResetPassword): spends every reset token
  /// of the account and ends every session. Returns how many sessions ended.
  package func resetPassword(token: String, newPassword: String) async throws -> Int {
    guard !token.isEmpty else { throw Validation.invalid("token", "is required") }
    let password = try Validation.password(newPassword, field: "new_password")
    return try await rpc {
      let hash = try await hashPassword(password)
      return try await pool.withTransaction { tx in
        let moment = now()
        let rows = try await tx.query(
          """
          SELECT user_id, expires_at, used_at FROM asgardian.recovery_tokens
          WHERE token_hash = \(Self.digest(token)) FOR UPDATE
          """)
        guard let row = rows.first else {
          throw RPCError(code: .unauthenticated, message: "the reset token is unknown, expired or already used")
        }
        let (userID, expiresAt, usedAt) = try row.decode((UUID, Date, Date?).self)
        guard usedAt == nil, expiresAt > moment, let user = try await self.user(userID, in: tx, lock: true), !user.deleted
        else {
          throw RPCError(code: .unauthenticated, message: "the reset token is unknown, expired or already used")
        }
        guard !user.disabled else {
          throw RPCError(code: .permissionDenied, message: "this account is disabled; contact an administrator")
        }
        try await tx.execute(
          "UPDATE asgardian.users SET password_hash = \(hash), updated_at = \(moment) WHERE id = \(userID)")
        try await tx.execute(
          "UPDATE asgardian.recovery_tokens SET used_at = \(moment) WHERE user_id = \(userID) AND used_at IS NULL")
        return try await revokeSessions(of: userID, reason: "password reset", in: tx, now: moment)
      }
    }
  }
}
