@testable import Asgardian
import ContractRuntime
import CourierTestSupport
import Foundation
import Generated
import GRPCCore
import Postgres
import SwiftProtobuf
import Testing

extension AsgardianDatabaseTests {
  // MARK: Recovery

  /// The token in a recovery mail's reset_url.
  static func token(in mail: AccountMail) throws -> String {
    let url = try #require(mail.variables["reset_url"])
    let range = try #require(url.range(of: "token="))
    return String(url[range.upperBound...])
  }

  @Test("recovery: the mail carries a single-use token; reset changes the password and ends every session")
  func recovery() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      let created = try await h.signUp(email: email)
      try await h.call(as: nil) { try await h.core.requestRecovery(email: email.uppercased()) }
      let mail = try #require(h.mailer.mails.last)
      #expect(mail.template == .passwordRecover)
      #expect(mail.idempotencyKey.hasPrefix("recover:"))
      #expect(mail.address == email && mail.userID == created.user.userID)
      #expect(mail.variables["expires_in_minutes"] == "30")
      #expect(mail.variables["display_name"] == "Ada Lovelace")
      let token = try Self.token(in: mail)
      let stored = try await h.pool.query("SELECT count(*)::bigint FROM asgardian.recovery_tokens WHERE token_hash = \(Array(token.utf8))")
      #expect(try stored[0].decode(Int.self, at: 0) == 0, "reset tokens are stored hashed only")

      await expectCode(.invalidArgument) { try await h.core.resetPassword(token: token, newPassword: "short") }
      let ended = try await h.core.resetPassword(token: token, newPassword: "a brand new secret")
      #expect(ended == 1)
      await expectCode(.unauthenticated) { try await h.core.resetPassword(token: token, newPassword: "yet another secret") }
      await expectCode(.unauthenticated) { try await h.login(email, "correct horse battery") }
      _ = try await h.login(email, "a brand new secret")
      await expectCode(.unauthenticated) { try await h.core.refresh(created.tokens.refreshToken) }
      #expect(try await h.check(created.tokens.accessToken).rejection == .revoked)
      await expectCode(.invalidArgument) { try await h.core.resetPassword(token: "", newPassword: "a brand new secret") }
    }
  }

  @Test("recovery: unknown email answers the same and mails nothing; a token expires after 30 minutes")
  func recoveryUnknownAndExpiry() async throws {
    try await Harness.with { h in
      try await h.call(as: nil) { try await h.core.requestRecovery(email: Harness.uniqueEmail()) }
      #expect(h.mailer.mails.isEmpty)
      await expectCode(.invalidArgument) { try await h.call(as: nil) { try await h.core.requestRecovery(email: "nope") } }

      let email = Harness.uniqueEmail()
      _ = try await h.signUp(email: email)
      try await h.call(as: nil) { try await h.core.requestRecovery(email: email) }
      let token = try Self.token(in: try #require(h.mailer.mails.last))
      h.clock.advance(by: 30 * 60 + 1)
      await expectCode(.unauthenticated) { try await h.core.resetPassword(token: token, newPassword: "a brand new secret") }
      // Iris down: the answer is still OK (it must not tell whether the account exists).
      h.mailer.fail(times: 1)
      try await h.call(as: nil) { try await h.core.requestRecovery(email: email) }
    }
  }

  @Test("a reset token of an account disabled after it was issued is PERMISSION_DENIED")
  func recoveryDisabled() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      let created = try await h.signUp(email: email)
      try await h.call(as: nil) { try await h.core.requestRecovery(email: email) }
      let token = try Self.token(in: try #require(h.mailer.mails.last))
      try await h.pool.execute("UPDATE asgardian.users SET disabled = true WHERE id = \(UUID(uuidString: created.user.userID)!)")
      await expectCode(.permissionDenied) { try await h.core.resetPassword(token: token, newPassword: "a brand new secret") }
    }
  }

  // MARK: Profile

  @Test("profile: present fields change, absent ones stay; bad fields are INVALID_ARGUMENT and change nothing")
  func profileUpdate() async throws {
    try await Harness.with { h in
      let created = try await h.signUp()
      let caller = Harness.caller(created.principal)
      var request = Courier_Asgardian_V1_UpdateProfileDataRequest()
      request.displayName = .init("  Ada King ")
      request.phoneNumber = .init("+4915123456789")
      request.trackingMailEnabled = .init(false)
      let updated = try await h.call(as: caller) { try await h.account.updateProfileData(request: request, context: .test) }.user
      #expect(updated.displayName == "Ada King" && updated.phoneNumber == "+4915123456789")
      #expect(!updated.notificationPreferences.trackingMailEnabled && updated.notificationPreferences.trackingPushEnabled)
      #expect(updated.email == created.user.email)

      let bad: [(Courier_Asgardian_V1_UpdateProfileDataRequest, String)] = [
        ({ var r = Courier_Asgardian_V1_UpdateProfileDataRequest(); r.email = .init("nope"); r.displayName = .init("Changed"); return r }(), "email"),
        ({ var r = Courier_Asgardian_V1_UpdateProfileDataRequest(); r.displayName = .init(String(repeating: "x", count: 101)); return r }(), "display_name"),
        ({ var r = Courier_Asgardian_V1_UpdateProfileDataRequest(); r.phoneNumber = .init("+49 151 234"); r.displayName = .init("Changed"); return r }(), "phone_number"),
      ]
      for (request, field) in bad {
        let error = await rpcError { try await h.call(as: caller) { try await h.account.updateProfileData(request: request, context: .test) } }
        #expect(error?.code == .invalidArgument && error?.message.contains(field) == true, "\(String(describing: error))")
      }
      let after = try await h.call(as: caller) { try await h.account.getProfileData(request: .init(), context: .test) }.user
      #expect(after.displayName == "Ada King" && after.phoneNumber == "+4915123456789")

      request = .init()
      request.phoneNumber = .init("")
      let result1 = try await h.call(as: caller) { try await h.account.updateProfileData(request: request, context: .test) }
      #expect(result1.user.phoneNumber == "")
      await expectCode(.unauthenticated) { try await h.call(as: nil) { try await h.account.getProfileData(request: .init(), context: .test) } }
    }
  }

  @Test("profile: a new email needs the current password and must be free")
  func profileEmail() async throws {
    try await Harness.with { h in
      let created = try await h.signUp()
      let other = try await h.signUp()
      let caller = Harness.caller(created.principal)
      let newEmail = Harness.uniqueEmail()
      var request = Courier_Asgardian_V1_UpdateProfileDataRequest()
      request.email = .init(newEmail)
      await expectCode(.permissionDenied) { try await h.call(as: caller) { try await h.account.updateProfileData(request: request, context: .test) } }
      request.currentPassword = "wrong password"
      await expectCode(.permissionDenied) { try await h.call(as: caller) { try await h.account.updateProfileData(request: request, context: .test) } }
      request.currentPassword = "correct horse battery"
      request.email = .init(other.user.email.uppercased())
      await expectCode(.alreadyExists) { try await h.call(as: caller) { try await h.account.updateProfileData(request: request, context: .test) } }
      request.email = .init(newEmail)
      let result2 = try await h.call(as: caller) { try await h.account.updateProfileData(request: request, context: .test) }
      #expect(result2.user.email == newEmail)
      _ = try await h.login(newEmail, "correct horse battery")
    }
  }

  @Test("user A's token reads and changes only A; B is untouched")
  func profileIsolation() async throws {
    try await Harness.with { h in
      let a = try await h.signUp(name: "Alice")
      let b = try await h.signUp(name: "Bob")
      let callerA = Harness.caller(a.principal)
      let result3 = try await h.call(as: callerA) { try await h.account.getProfileData(request: .init(), context: .test) }
      #expect(result3.user.userID == a.user.userID)
      var request = Courier_Asgardian_V1_UpdateProfileDataRequest()
      request.displayName = .init("Mallory")
      _ = try await h.call(as: callerA) { try await h.account.updateProfileData(request: request, context: .test) }
      #expect(try await h.core.userData(id: b.user.userID).displayName == "Bob")
      var get = Courier_Asgardian_V1_GetUserRequest()
      get.userID = b.user.userID
      await expectCode(.permissionDenied) { try await h.call(as: callerA) { try await h.admin.getUser(request: get, context: .test) } }
    }
  }

  // MARK: Admin

  @Test("admin RPCs: anonymous is UNAUTHENTICATED, users and deliverers PERMISSION_DENIED")
  func adminRefusesOthers() async throws {
    try await Harness.with { h in
      let target = try await h.signUp()
      let user = Harness.caller(try await h.signUp().principal)
      let deliverer = Caller(userID: user.userID, roles: ["deliverer"])
      var get = Courier_Asgardian_V1_GetUserRequest()
      get.userID = target.user.userID
      var roles = Courier_Asgardian_V1_SetUserRolesRequest()
      roles.userID = target.user.userID
      roles.roles = [.admin]
      var disable = Courier_Asgardian_V1_SetUserDisabledRequest()
      disable.userID = target.user.userID
      disable.disabled = true
      var delete = Courier_Asgardian_V1_DeleteUserRequest()
      delete.userID = target.user.userID
      for (caller, code) in [(nil, RPCError.Code.unauthenticated), (user, .permissionDenied), (deliverer, .permissionDenied)] as [(Caller?, RPCError.Code)] {
        await expectCode(code) { try await h.call(as: caller) { try await h.admin.listUsers(request: .init(), context: .test) } }
        await expectCode(code) { try await h.call(as: caller) { try await h.admin.getUser(request: get, context: .test) } }
        await expectCode(code) { try await h.call(as: caller) { try await h.admin.setUserRoles(request: roles, context: .test) } }
        await expectCode(code) { try await h.call(as: caller) { try await h.admin.setUserDisabled(request: disable, context: .test) } }
        await expectCode(code) { try await h.call(as: caller) { try await h.admin.deleteUser(request: delete, context: .test) } }
      }
      let stored = try await h.core.userData(id: target.user.userID)
      #expect(stored.roleNames == ["user"] && !stored.disabled && !stored.deleted)
    }
  }

  @Test("admin: roles, disable (ends sessions), delete (erases personal data), and no self-harm")
  func adminManages() async throws {
    try await Harness.with { h in
      let admin = try await h.promote(try await h.signUp(name: "Root").user.userID)
      let target = try await h.signUp(name: "Target")
      var roles = Courier_Asgardian_V1_SetUserRolesRequest()
      roles.userID = target.user.userID
      roles.roles = [.deliverer, .user, .deliverer]
      let result4 = try await h.call(as: admin) { try await h.admin.setUserRoles(request: roles, context: .test) }
      #expect(result4.user.roles == [.user, .deliverer])
      roles.roles = []
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.setUserRoles(request: roles, context: .test) } }
      roles.roles = [.unspecified]
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.setUserRoles(request: roles, context: .test) } }
      roles.roles = [.user]
      roles.userID = admin.userID
      await expectCode(.failedPrecondition) { try await h.call(as: admin) { try await h.admin.setUserRoles(request: roles, context: .test) } }
      roles.userID = UUID().uuidString.lowercased()
      await expectCode(.notFound) { try await h.call(as: admin) { try await h.admin.setUserRoles(request: roles, context: .test) } }
      roles.userID = "nope"
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.setUserRoles(request: roles, context: .test) } }

      var disable = Courier_Asgardian_V1_SetUserDisabledRequest()
      disable.userID = target.user.userID
      disable.disabled = true
      disable.reason = "testing"
      let result5 = try await h.call(as: admin) { try await h.admin.setUserDisabled(request: disable, context: .test) }
      #expect(result5.user.disabled)
      let result6 = try await h.call(as: admin) { try await h.admin.setUserDisabled(request: disable, context: .test) }
      #expect(result6.user.disabled)
      #expect(try await h.check(target.tokens.accessToken).rejection == .revoked)
      disable.reason = String(repeating: "r", count: 501)
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.setUserDisabled(request: disable, context: .test) } }
      disable.userID = admin.userID
      disable.reason = ""
      await expectCode(.failedPrecondition) { try await h.call(as: admin) { try await h.admin.setUserDisabled(request: disable, context: .test) } }

      var delete = Courier_Asgardian_V1_DeleteUserRequest()
      delete.userID = target.user.userID
      let deleted = try await h.call(as: admin) { try await h.admin.deleteUser(request: delete, context: .test) }.user
      #expect(deleted.deleted && deleted.email.isEmpty && deleted.displayName.isEmpty)
      let result7 = try await h.call(as: admin) { try await h.admin.deleteUser(request: delete, context: .test) }
      #expect(result7.user.deleted)
      var get = Courier_Asgardian_V1_GetUserRequest()
      get.userID = target.user.userID
      let result8 = try await h.call(as: admin) { try await h.admin.getUser(request: get, context: .test) }
      #expect(result8.user.deleted)
      // The email is free again.
      _ = try await h.signUp(email: target.user.email)
      delete.userID = admin.userID
      await expectCode(.failedPrecondition) { try await h.call(as: admin) { try await h.admin.deleteUser(request: delete, context: .test) } }
      delete.userID = UUID().uuidString.lowercased()
      await expectCode(.notFound) { try await h.call(as: admin) { try await h.admin.deleteUser(request: delete, context: .test) } }
    }
  }

  @Test("admin: list users newest first, with search, role filter and page tokens bound to their query")
  func adminList() async throws {
    try await Harness.with { h in
      let admin = try await h.promote(try await h.signUp().user.userID)
      let tag = "tag" + UUID().uuidString.prefix(6).lowercased()
      var ids: [String] = []
      for index in 0..<5 {
        h.clock.advance(by: 1)
        ids.append(try await h.signUp(name: "\(tag) \(index)").user.userID)
      }
      var request = Courier_Asgardian_V1_ListUsersRequest()
      request.query = tag.uppercased()
      request.page.pageSize = 2
      var seen: [String] = []
      var pages = 0
      repeat {
        let page = try await h.call(as: admin) { try await h.admin.listUsers(request: request, context: .test) }
        #expect(page.pageInfo.totalSize == 5)
        seen += page.users.map(\.userID)
        request.page.pageToken = page.pageInfo.nextPageToken
        pages += 1
      } while !request.page.pageToken.isEmpty && pages < 10
      #expect(seen == Array(ids.reversed()))
      #expect(pages == 3)

      let firstPage = try await h.call(as: admin) {
        try await h.admin.listUsers(request: { var r = request; r.page.pageToken = ""; return r }(), context: .test)
      }
      var other = request
      other.query = "something else"
      other.page.pageToken = firstPage.pageInfo.nextPageToken
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.listUsers(request: other, context: .test) } }
      other.page.pageToken = "garbage"
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.listUsers(request: other, context: .test) } }
      other = .init()
      other.page.pageSize = 501
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.listUsers(request: other, context: .test) } }
      other = .init()
      other.query = String(repeating: "q", count: 101)
      await expectCode(.invalidArgument) { try await h.call(as: admin) { try await h.admin.listUsers(request: other, context: .test) } }

      var byRole = Courier_Asgardian_V1_ListUsersRequest()
      byRole.role = .admin
      byRole.page.pageSize = 500
      let admins = try await h.call(as: admin) { try await h.admin.listUsers(request: byRole, context: .test) }.users
      #expect(admins.contains { $0.userID == admin.userID })
      #expect(admins.allSatisfy { $0.roles.contains(.admin) })
    }
  }

  @Test("GetUserData returns disabled and deleted users; unknown ids are NOT_FOUND, malformed INVALID_ARGUMENT")
  func getUserData() async throws {
    try await Harness.with { h in
      let created = try await h.signUp()
      var request = Courier_Asgardian_V1_GetUserDataRequest()
      request.userID = created.user.userID
      #expect(try await h.identity.getUserData(request: request, context: .test).user.email == created.user.email)
      request.userID = UUID().uuidString.lowercased()
      await expectCode(.notFound) { try await h.identity.getUserData(request: request, context: .test) }
      request.userID = ""
      await expectCode(.invalidArgument) { try await h.identity.getUserData(request: request, context: .test) }

      var login = Courier_Asgardian_V1_GetUserLoginTokenDataRequest()
      login.email = created.user.email
      login.password = "correct horse battery"
      let session = try await h.call(as: nil) { try await h.identity.getUserLoginTokenData(request: login, context: .test) }
      #expect(try await h.check(session.tokens.accessToken).authenticated)
    }
  }

  // MARK: First admin

  @Test("bootstrapAdmin creates the first admin once; never a second, never with a bad password")
  func bootstrapAdmin() async throws {
    // A database of its own: other tests make admins.
    let database = "asgardian_bootstrap_" + UUID().uuidString.prefix(8).lowercased()
    _ = try await Harness.with { h in
      try await h.pool.execute("CREATE DATABASE \(identifier: database)")
    }
    let base = try TestDatabase.requireURL()
    let slash = try #require(base.lastIndex(of: "/"))
    let url = String(base[...slash]) + database
    try await TestDatabase.$url.withValue(url) {
      try await Harness.with { h in
        await #expect(throws: BootstrapAdminError.self) { try await h.core.bootstrapAdmin(email: "root@example.com", password: "short") }
        let id = try await h.core.bootstrapAdmin(email: "root@example.com", password: "a long enough secret")
        let admin = try await h.core.userData(id: id.uuidString.lowercased())
        #expect(admin.roleNames == ["user", "admin"])
        _ = try await h.login("root@example.com", "a long enough secret")
        await #expect(throws: BootstrapAdminError.adminExists) {
          try await h.core.bootstrapAdmin(email: "other@example.com", password: "a long enough secret")
        }
      }
    }
  }
}
