import ContractRuntime
package import Foundation
package import Generated
package import Postgres
import SwiftProtobuf

/// One row of `asgardian.user_rows`.
package struct UserRow: Sendable {
  package var id: UUID
  package var email: String?
  package var displayName: String
  package var phoneNumber: String
  package var roles: [String]
  package var trackingMailEnabled: Bool
  package var trackingPushEnabled: Bool
  package var disabled: Bool
  package var deleted: Bool
  package var passwordHash: String?
  package var createdAt: Date
  package var updatedAt: Date
  package var lastLoginAt: Date?

  /// Decodes a row of `SELECT * FROM asgardian.user_rows`, by column name.
  package init(_ row: PostgresRow) throws {
    id = try row.decode(UUID.self, column: "id")
    email = try row.decode(String?.self, column: "email")
    displayName = try row.decode(String.self, column: "display_name")
    phoneNumber = try row.decode(String.self, column: "phone_number")
    roles = try row.decode(String.self, column: "roles").split(separator: ",").map(String.init)
    trackingMailEnabled = try row.decode(Bool.self, column: "tracking_mail_enabled")
    trackingPushEnabled = try row.decode(Bool.self, column: "tracking_push_enabled")
    disabled = try row.decode(Bool.self, column: "disabled")
    deleted = try row.decode(Bool.self, column: "deleted")
    passwordHash = try row.decode(String?.self, column: "password_hash")
    createdAt = try row.decode(Date.self, column: "created_at")
    updatedAt = try row.decode(Date.self, column: "updated_at")
    lastLoginAt = try row.decode(Date?.self, column: "last_login_at")
  }

  /// The id in canonical lowercase text.
  package var idText: String { id.uuidString.lowercased() }

  /// True when the account may log in and use tokens.
  package var isActive: Bool { !disabled && !deleted }

  /// The roles in ascending enum order, as names.
  package var roleNames: [String] { Roles.names(Roles.roles(roles)) }

  /// The proto form.
  package var message: Courier_Asgardian_V1_User {
    var user = Courier_Asgardian_V1_User()
    user.userID = idText
    user.email = email ?? ""
    user.displayName = displayName
    user.phoneNumber = phoneNumber
    user.roles = Roles.roles(roles)
    user.notificationPreferences.trackingMailEnabled = trackingMailEnabled
    user.notificationPreferences.trackingPushEnabled = trackingPushEnabled
    user.disabled = disabled
    user.deleted = deleted
    user.createdAt = Google_Protobuf_Timestamp(microsecondsOf: createdAt)
    user.updatedAt = Google_Protobuf_Timestamp(microsecondsOf: updatedAt)
    if let lastLoginAt { user.lastLoginAt = Google_Protobuf_Timestamp(microsecondsOf: lastLoginAt) }
    return user
  }
}
