import ContractRuntime
import EventSource
import Logging
import SwiftProtobuf
import Crypto
public import Foundation
package import Generated
import GRPCCore
import Postgres

/// One page of ListUsers.
package struct UserPage: Sendable {
  package var users: [UserRow]
  package var nextPageToken: String
  package var totalSize: Int
}

/// Why the first admin was not created.
public enum BootstrapAdminError: Error, CustomStringConvertible, Equatable {
  /// An account with the admin role exists already; nothing was changed.
  case adminExists
  /// The email or password breaks the sign-up rules.
  case invalid(String)
  /// An account (not an admin) already uses the email.
  case emailTaken

  public var description: String {
    switch self {
    case .adminExists: "an admin account exists already; the bootstrap admin was not created"
    case .invalid(let reason): "the bootstrap admin cannot be created: \(reason)"
    case .emailTaken: "an account with the bootstrap admin's email exists already; give it the admin role instead"
    }
  }
}

extension AsgardianCore {
  // MARK: Read

  /// One user by id, including disabled and deleted ones (IdentityService.GetUserData,
  /// UserAdminService.GetUser).
  package func userData(id rawID: String) async throws -> UserRow {
    let id = try Validation.userID(rawID)
    return try await rpc {
      guard let user = try await self.user(id) else { throw RPCError(code: .notFound, message: "no user has the id \(rawID)") }
      return user
    }
  }

  /// A page of users, newest first, deleted ones left out (UserAdminService.ListUsers). The page token
  /// carries the offset and a fingerprint of the filter, so a token is refused by another query.
  package func listUsers(_ request: Courier_Asgardian_V1_ListUsersRequest) async throws -> UserPage {
    _ = try requireAdmin()
    let size = Int(request.page.pageSize == 0 ? 50 : request.page.pageSize)
    guard (1...500).contains(size) else { throw Validation.invalid("page.page_size", "must be 0 (default 50) or 1 to 500") }
    try Validation.maxLength(request.query, 100, field: "query")
    let role: String
    switch request.role {
    case .unspecified: role = ""
    case let value:
      guard let name = Roles.name(value) else { throw Validation.invalid("role", "is not a known role") }
      role = name
    }
    let query = request.query.lowercased()
    let fingerprint = Self.fingerprint(query: query, role: role)
    var offset = 0
    if !request.page.pageToken.isEmpty {
      guard let bytes = Base64URL.decode(request.page.pageToken), let text = String(bytes: bytes, encoding: .utf8) else {
        throw Validation.invalid("page.page_token", "was not produced by this query")
      }
      let parts = text.split(separator: ":")
      guard parts.count == 2, parts[1] == fingerprint, let value = Int(parts[0]), value > 0 else {
        throw Validation.invalid("page.page_token", "was not produced by this query")
      }
      offset = value
    }
    return try await rpc {
      let total = try await pool.query(
        """
        SELECT count(*)::bigint FROM asgardian.user_rows
        WHERE NOT deleted
          AND (\(query) = '' OR strpos(lower(email), \(query)) > 0 OR strpos(lower(display_name), \(query)) > 0)
          AND (\(role) = '' OR \(role) = ANY(string_to_array(roles, ',')))
        """)[0].decode(Int.self, at: 0)
      let rows = try await pool.query(
        """
        SELECT * FROM asgardian.user_rows
        WHERE NOT deleted
          AND (\(query) = '' OR strpos(lower(email), \(query)) > 0 OR strpos(lower(display_name), \(query)) > 0)
          AND (\(role) = '' OR \(role) = ANY(string_to_array(roles, ',')))
        ORDER BY created_at DESC, id DESC
        LIMIT \(size) OFFSET \(offset)
        """)
      let users = try rows.map(UserRow.init)
      let next = offset + users.count
      let token = next < total && !users.isEmpty ? Base64URL.encode(Array("\(next):\(fingerprint)".utf8)) : ""
      return UserPage(users: users, nextPageToken: token, totalSize: total)
    }
  }

  static func fingerprint(query: String, role: String) -> String {
    let digest = SHA256.hash(data: Array("\(query)\u{0}\(role)".utf8))
    return digest.prefix(8).map { String(format: "%02x", $0) }.joined()
  }

  // MARK: Change

  /// Replaces a user's roles (UserAdminService.SetUserRoles).
  package func setRoles(userID rawID: String, roles: [Courier_Asgardian_V1_Role]) async throws -> UserRow {
    let admin = try requireAdmin()
    let id = try Validation.userID(rawID)
    guard !roles.isEmpty else { throw Validation.invalid("roles", "must name at least one role") }
    guard roles.allSatisfy({ Roles.name($0) != nil }) else {
      throw Validation.invalid("roles", "contains ROLE_UNSPECIFIED or an unknown role")
    }
    let names = Roles.names(roles)
    if admin.userID == id.uuidString.lowercased() && !names.contains("admin") {
      throw RPCError(code: .failedPrecondition, message: "you cannot remove the admin role from yourself")
    }
    return try await changeUser(id) { tx, _, moment in
      try await tx.execute(
        """
        UPDATE asgardian.users SET roles = string_to_array(\(names.joined(separator: ",")), ','), updated_at = \(moment)
        WHERE id = \(id)
        """)
    }
  }

  /// Disables or enables an account (UserAdminService.SetUserDisabled). Disabling ends every session.
  package func setDisabled(userID rawID: String, disabled: Bool, reason: String) async throws -> UserRow {
    let admin = try requireAdmin()
    let id = try Validation.userID(rawID)
    try Validation.maxLength(reason, 500, field: "reason")
    if disabled && admin.userID == id.uuidString.lowercased() {
      throw RPCError(code: .failedPrecondition, message: "you cannot disable yourself")
    }
    return try await changeUser(id) { tx, user, moment in
      guard user.disabled != disabled else { return }
      try await tx.execute("UPDATE asgardian.users SET disabled = \(disabled), updated_at = \(moment) WHERE id = \(id)")
      if disabled {
        _ = try await self.revokeSessions(of: id, reason: "account disabled", in: tx, now: moment)
      }
      self.logger.notice(
        disabled ? "account disabled" : "account enabled",
        metadata: ["user_id": "\(id)", "admin_id": "\(admin.userID)", "reason": "\(reason)"])
    }
  }

  /// Deletes an account: ends its sessions and erases its personal data; the id stays
  /// (UserAdminService.DeleteUser). Deleting a deleted user changes nothing.
  package func deleteUser(userID rawID: String) async throws -> UserRow {
    let admin = try requireAdmin()
    let id = try Validation.userID(rawID)
    if admin.userID == id.uuidString.lowercased() {
      throw RPCError(code: .failedPrecondition, message: "you cannot delete yourself")
    }
    return try await rpc {
      try await pool.withTransaction { tx in
        guard let user = try await self.user(id, in: tx, lock: true) else {
          throw RPCError(code: .notFound, message: "no user has the id \(rawID)")
        }
        if user.deleted { return user }
        let moment = now()
        try await tx.execute(
          """
          UPDATE asgardian.users SET deleted = true, email = NULL, display_name = '', phone_number = '',
            password_hash = NULL, updated_at = \(moment)
          WHERE id = \(id)
          """)
        _ = try await revokeSessions(of: id, reason: "account deleted", in: tx, now: moment)
        try await tx.execute("UPDATE asgardian.recovery_tokens SET used_at = \(moment) WHERE user_id = \(id) AND used_at IS NULL")
        guard let updated = try await self.user(id, in: tx) else { throw RPCError(code: .notFound, message: "no user has the id \(rawID)") }
        return updated
      }
    }
  }

  /// Locks a live (not deleted) user, runs `change`, and returns the row as stored after it.
  private func changeUser(
    _ id: UUID, _ change: @escaping (PostgresTransaction, UserRow, Date) async throws -> Void
  ) async throws -> UserRow {
    try await rpc {
      try await pool.withTransaction { tx in
        guard let user = try await self.user(id, in: tx, lock: true), !user.deleted else {
          throw RPCError(code: .notFound, message: "no user has the id \(id.uuidString.lowercased())")
        }
        try await change(tx, user, now())
        guard let updated = try await self.user(id, in: tx) else {
          throw RPCError(code: .notFound, message: "no user has the id \(id.uuidString.lowercased())")
        }
        return updated
      }
    }
  }

  // MARK: First admin

  /// Creates the first admin account of a new installation, with roles `user` and `admin`, when no
  /// account holds `admin` yet. Used by the operator command and by `ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL` /
  /// `ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD` at start; there is never a default password.
  ///
  /// The check and the insert run under a transaction-level advisory lock, so replicas starting
  /// together create one admin. Returns the new admin's id.
  /// - Throws: ``BootstrapAdminError``, or the database's error.
  @discardableResult
  public func bootstrapAdmin(email rawEmail: String, password rawPassword: String) async throws -> UUID {
    let email: String
    let password: String
    do {
      email = try Validation.email(rawEmail, field: "ASGARDIAN_BOOTSTRAP_ADMIN_EMAIL")
      password = try Validation.password(rawPassword, field: "ASGARDIAN_BOOTSTRAP_ADMIN_PASSWORD")
    } catch {
      throw BootstrapAdminError.invalid(error.message)
    }
    let hash = try await hashPassword(password)
    let headers = eventHeaders
    return try await pool.withTransaction { tx in
      _ = try await tx.query("SELECT pg_advisory_xact_lock(hashtext('asgardian.bootstrap_admin'))")
      let admins = try await tx.query(
        "SELECT count(*)::bigint FROM asgardian.users WHERE 'admin' = ANY(roles) AND NOT deleted")[0].decode(Int.self, at: 0)
      guard admins == 0 else { throw BootstrapAdminError.adminExists }
      let taken = try await tx.query(
        "SELECT 1 FROM asgardian.users WHERE lower(email) = \(email.lowercased()) AND NOT deleted")
      guard taken.isEmpty else { throw BootstrapAdminError.emailTaken }
      let moment = now()
      let id = UUID()
      try await tx.execute(
        """
        INSERT INTO asgardian.users (id, email, display_name, phone_number, roles, password_hash, created_at, updated_at)
        VALUES (\(id), \(email), 'Administrator', '', ARRAY['user', 'admin'], \(hash), \(moment), \(moment))
        """)
      var event = Courier_Events_V1_UserCreated()
      event.userID = id.uuidString.lowercased()
      event.email = email
      event.displayName = "Administrator"
      event.occurredAt = .init(date: moment)
      try await events.append(event, in: tx, headers: headers, occurredAt: moment)
      logger.notice("bootstrap admin created", metadata: ["user_id": "\(id)"])
      return id
    }
  }
}
