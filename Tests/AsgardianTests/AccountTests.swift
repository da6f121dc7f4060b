@testable import Asgardian
import ContractRuntime
import Gateway
import CourierTestSupport
import Foundation
import Generated
import GRPCCore
import Postgres
import SwiftProtobuf
import Testing

/// Asgardian against a real Postgres (one throwaway cluster for the suite), its services called
/// directly with `CallContext.$current` bound the way the gateway binds it.
@Suite("Asgardian (Postgres)", .sharedCluster)
struct AsgardianDatabaseTests {
  // MARK: Sign-up

  @Test("sign-up writes the user and its UserCreated event in one transaction")
  func signUpWritesUserAndEvent() async throws {
    try await Harness.with { h in
      let email = "  " + Harness.uniqueEmail() + " "
      let response = try await h.signUp(email: email)
      let id = try #require(UUID(uuidString: response.user.userID))
      #expect(response.user.email == email.trimmingCharacters(in: .whitespaces))
      #expect(response.user.roles == [.user])
      #expect(response.user.notificationPreferences.trackingMailEnabled)
      #expect(response.principal.userID == response.user.userID)
      #expect(!response.tokens.accessToken.isEmpty && !response.tokens.refreshToken.isEmpty)

      let rows = try await h.pool.query(
        """
        SELECT e.type, e.key, e.payload, e.producer, u.xmin::text = e.xmin::text
        FROM event_source.events e JOIN asgardian.users u ON u.id::text = e.key
        WHERE e.key = \(response.user.userID)
        """)
      #expect(rows.count == 1)
      let (type, key, payload, producer, sameTransaction) = try rows[0].decode((String, String, [UInt8], String, Bool).self)
      #expect(type == "courier.events.v1.UserCreated")
      #expect(key == id.uuidString.lowercased())
      #expect(producer == "asgardian")
      #expect(sameTransaction, "the user row and the event row were written by the same transaction")
      let event = try Courier_Events_V1_UserCreated(serializedBytes: payload)
      #expect(event.email == response.user.email && event.displayName == "Ada Lovelace")
    }
  }

  @Test("a sign-up that breaks a rule writes nothing and names the field")
  func signUpValidation() async throws {
    try await Harness.with { h in
      let cases: [(String, String, String, String, String)] = [
        ("not-an-email", "correct horse", "Ada", "", "email"),
        (Harness.uniqueEmail(), "short", "Ada", "", "password"),
        (Harness.uniqueEmail(), "correct horse", "   ", "", "display_name"),
        (Harness.uniqueEmail(), "correct horse", "Ada", "0049151", "phone_number"),
      ]
      for (email, password, name, phone, field) in cases {
        var request = Courier_Asgardian_V1_SignUpRequest()
        request.email = email
        request.password = password
        request.displayName = name
        request.phoneNumber = phone
        let error = await rpcError { try await h.call(as: nil) { try await h.account.signUp(request: request, context: .test) } }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains(field) == true, "\(String(describing: error))")
        let users = try await h.pool.query("SELECT count(*)::bigint FROM asgardian.users WHERE lower(email) = lower(\(email))")
        #expect(try users[0].decode(Int.self, at: 0) == 0)
        let events = try await h.pool.query(
          "SELECT count(*)::bigint FROM event_source.events WHERE type = 'courier.events.v1.UserCreated' AND position(convert_to(\(email), 'UTF8') in payload) > 0")
        #expect(try events[0].decode(Int.self, at: 0) == 0)
      }
    }
  }

  @Test("a second account with the same email (any case) is ALREADY_EXISTS and leaves no event")
  func duplicateEmail() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      _ = try await h.signUp(email: email)
      await expectCode(.alreadyExists) { try await h.signUp(email: email.uppercased()) }
      let events = { (text: String) in
        try await h.pool.query(
          "SELECT count(*)::bigint FROM event_source.events WHERE position(convert_to(\(text), 'UTF8') in payload) > 0"
        )[0].decode(Int.self, at: 0)
      }
      #expect(try await events(email) == 1)
      #expect(try await events(email.uppercased()) == 0)
    }
  }

  // MARK: Login

  @Test("login: right password works; wrong password and unknown email get the same answer")
  func login() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      let created = try await h.signUp(email: email)
      let session = try await h.login(email.uppercased(), "correct horse battery")
      #expect(session.principal.userID == created.user.userID)
      #expect(session.principal.expiresAt == session.tokens.accessTokenExpiresAt)
      #expect(session.principal.sessionID != created.principal.sessionID, "each login is a session of its own")
      let profile = try await h.call(as: Harness.caller(session.principal)) { try await h.core.profile() }
      #expect(profile.lastLoginAt != nil)

      let wrong = await rpcError { try await h.login(email, "correct horse battery!") }
      let unknown = await rpcError { try await h.login(Harness.uniqueEmail(), "correct horse battery") }
      #expect(wrong?.code == .unauthenticated)
      #expect(wrong?.code == unknown?.code && wrong?.message == unknown?.message)
      await expectCode(.invalidArgument) { try await h.login("", "x") }
      await expectCode(.invalidArgument) { try await h.login(email, "") }
    }
  }

  @Test("an unknown email costs about as much time as a wrong password (a dummy hash is checked)")
  func loginTiming() async throws {
    // Costly enough that scrypt dominates a login: 2^13 * 8 * 128 bytes = 8 MiB.
    try await Harness.with(parameters: .init(logN: 13, r: 8, p: 1)) { h in
      let email = Harness.uniqueEmail()
      _ = try await h.signUp(email: email)
      let clock = ContinuousClock()
      // Interleaved, so that load from tests running beside this one hits both kinds alike.
      var wrongTimes: [Duration] = []
      var unknownTimes: [Duration] = []
      for round in 1...9 {
        wrongTimes.append(await clock.measure {
          await expectCode(.unauthenticated) { try await h.login(email, "wrong password", from: "192.0.2.\(2 * round)") }
        })
        unknownTimes.append(await clock.measure {
          await expectCode(.unauthenticated) { try await h.login(Harness.uniqueEmail(), "wrong password", from: "192.0.2.\(2 * round + 1)") }
        })
        // The account may fail 10 times a minute.
        if round % 4 == 0 { h.clock.advance(by: 61) }
      }
      let wrong = wrongTimes.sorted()[4]
      let unknown = unknownTimes.sorted()[4]
      let ratio = unknown / wrong
      // Without the dummy hash the ratio is about 0.001; the bounds leave room for a busy machine.
      #expect(ratio > 0.25 && ratio < 4, "unknown email \(unknown), wrong password \(wrong)")
    }
  }

  @Test("a disabled account with the right password is PERMISSION_DENIED; a wrong password still UNAUTHENTICATED")
  func disabledLogin() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      let created = try await h.signUp(email: email)
      try await h.pool.execute("UPDATE asgardian.users SET disabled = true WHERE id = \(UUID(uuidString: created.user.userID)!)")
      await expectCode(.permissionDenied) { try await h.login(email, "correct horse battery") }
      await expectCode(.unauthenticated) { try await h.login(email, "wrong password") }
    }
  }

  @Test("login rehashes a password stored with other scrypt parameters")
  func rehash() async throws {
    let email = Harness.uniqueEmail()
    let id = try await Harness.with(parameters: .init(logN: 9, r: 8, p: 1)) { h in
      try await h.signUp(email: email).user.userID
    }
    try await Harness.with(parameters: .init(logN: 10, r: 8, p: 1)) { h in
      let stored = { try await h.pool.query("SELECT password_hash FROM asgardian.users WHERE id = \(UUID(uuidString: id)!)")[0].decode(String.self, at: 0) }
      #expect(try await stored().hasPrefix("$scrypt$ln=9,r=8,p=1$"))
      _ = try await h.login(email, "correct horse battery")
      #expect(try await stored().hasPrefix("$scrypt$ln=10,r=8,p=1$"))
      _ = try await h.login(email, "correct horse battery")
      await expectCode(.unauthenticated) { try await h.login(email, "wrong password") }
    }
  }

  @Test("the 11th bad login within a minute for one account is RESOURCE_EXHAUSTED with retry-after, even with the right password")
  func rateLimitPerAccount() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      _ = try await h.signUp(email: email)
      for attempt in 1...10 {
        // Different addresses: only the account's count trips.
        await expectCode(.unauthenticated) { try await h.login(email, "wrong \(attempt)", from: "198.51.100.\(attempt)") }
      }
      let error = await rpcError { try await h.login(email, "correct horse battery", from: "198.51.100.99") }
      #expect(error?.code == .resourceExhausted)
      let retryAfter = error.flatMap { Int($0.metadata[stringValues: "retry-after"].first(where: { _ in true }) ?? "") }
      #expect(retryAfter.map { (1...60).contains($0) } == true, "retry-after: \(String(describing: retryAfter))")
      h.clock.advance(by: 61)
      _ = try await h.login(email, "correct horse battery", from: "198.51.100.99")
    }
  }

  @Test("the 11th bad login within a minute from one address is RESOURCE_EXHAUSTED, for any account")
  func rateLimitPerAddress() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      _ = try await h.signUp(email: email)
      for _ in 1...10 {
        await expectCode(.unauthenticated) { try await h.login(Harness.uniqueEmail(), "guess guess", from: "203.0.113.7") }
      }
      await expectCode(.resourceExhausted) { try await h.login(email, "correct horse battery", from: "203.0.113.7") }
      _ = try await h.login(email, "correct horse battery", from: "203.0.113.8")
    }
  }

  // MARK: Tokens

  @Test("IsAuthenticated accepts a fresh token and returns the principal with the current roles")
  func tokenAccepted() async throws {
    try await Harness.with { h in
      let created = try await h.signUp()
      let verdict = try await h.check(created.tokens.accessToken)
      #expect(verdict.authenticated && verdict.rejection == .unspecified)
      #expect(verdict.principal.userID == created.user.userID)
      #expect(verdict.principal.sessionID == created.principal.sessionID)
      #expect(verdict.principal.roles == [.user])
      _ = try await h.promote(created.user.userID)
      #expect(try await h.check(created.tokens.accessToken).principal.roles == [.user, .admin])
      await expectCode(.invalidArgument) { try await h.check("") }
    }
  }

  @Test("expired, forged, wrong key id, revoked, disabled and garbage tokens are refused with their reason")
  func tokenRejected() async throws {
    try await Harness.with { h in
      let created = try await h.signUp()
      let token = created.tokens.accessToken
      let parts = token.split(separator: ".").map(String.init)

      // Forged: claims changed, signature kept.
      var claims = try JSONDecoder().decode(AccessTokenClaims.self, from: Data(try #require(Base64URL.decode(parts[1]))))
      claims.roles = ["admin"]
      let forged = [parts[0], Base64URL.encode(try JSONEncoder().encode(claims)), parts[2]].joined(separator: ".")
      #expect(try await h.check(forged).rejection == .malformed)
      // Signed by a key this Asgardian does not know (another kid).
      let stranger = AccessTokens(keys: try TokenKeySet(signing: .generate(id: "stranger")))
      let strangerToken = try stranger.sign(stranger.claims(user: created.user.userID, roles: ["admin"], session: created.principal.sessionID, now: h.clock.now))
      #expect(try await h.check(strangerToken).rejection == .malformed)
      // Garbage.
      for garbage in ["garbage", "a.b.c", token + "x", String(token.dropLast(4))] {
        let verdict = try await h.check(garbage)
        #expect(!verdict.authenticated && verdict.rejection == .malformed, "\(garbage)")
        #expect(!verdict.hasPrincipal)
      }
      // Disabled user.
      let userID = UUID(uuidString: created.user.userID)!
      try await h.pool.execute("UPDATE asgardian.users SET disabled = true WHERE id = \(userID)")
      #expect(try await h.check(token).rejection == .accountInactive)
      try await h.pool.execute("UPDATE asgardian.users SET disabled = false WHERE id = \(userID)")
      #expect(try await h.check(token).authenticated)
      // Revoked: logout of this session.
      let ended = try await h.call(as: Harness.caller(created.principal)) {
        try await h.account.logout(request: .init(), context: .test)
      }
      #expect(ended.endedSessionCount == 1)
      #expect(try await h.check(token).rejection == .revoked)
      // Expired.
      let other = try await h.login(created.user.email, "correct horse battery")
      #expect(try await h.check(other.tokens.accessToken).authenticated)
      h.clock.advance(by: 15 * 60)
      #expect(try await h.check(other.tokens.accessToken).rejection == .expired)
    }
  }

  @Test("the in-process gateway authenticator maps an accepted token to a caller with its session")
  func authenticator() async throws {
    try await Harness.with { h in
      let created = try await h.signUp()
      let authenticator = AsgardianAuthenticator(core: h.core)
      let caller = try #require(try await authenticator.authenticate(bearerToken: created.tokens.accessToken))
      #expect(caller == Caller(userID: created.user.userID, roles: ["user"], sessionID: created.principal.sessionID))
      #expect(try await authenticator.authenticate(bearerToken: "garbage") == nil)
    }
  }

  @Test("logout ends the current session or all of them; ending an ended session succeeds with 0")
  func logout() async throws {
    try await Harness.with { h in
      let email = Harness.uniqueEmail()
      let first = try await h.signUp(email: email)
      let second = try await h.login(email, "correct horse battery")
      let third = try await h.login(email, "correct horse battery")
      var request = Courier_Asgardian_V1_LogoutRequest()
      let result1 = try await h.call(as: Harness.caller(first.principal)) { try await h.account.logout(request: request, context: .test) }
      #expect(result1.endedSessionCount == 1)
      let result2 = try await h.call(as: Harness.caller(first.principal)) { try await h.account.logout(request: request, context: .test) }
      #expect(result2.endedSessionCount == 0)
      #expect(try await h.check(second.tokens.accessToken).authenticated)
      request.allSessions = true
      let result3 = try await h.call(as: Harness.caller(second.principal)) { try await h.account.logout(request: request, context: .test) }
      #expect(result3.endedSessionCount == 2)
      #expect(try await h.check(third.tokens.accessToken).rejection == .revoked)
      await expectCode(.unauthenticated) { try await h.call(as: nil) { try await h.account.logout(request: request, context: .test) } }
      // Logout also ends the refresh token.
      await expectCode(.unauthenticated) { try await h.core.refresh(third.tokens.refreshToken) }
    }
  }

  @Test("refresh rotates: the new pair works, the old refresh token is spent, and reusing it ends the session")
  func refreshRotation() async throws {
    try await Harness.with { h in
      let created = try await h.signUp()
      h.clock.advance(by: 60)
      let rotated = try await h.core.refresh(created.tokens.refreshToken)
      #expect(rotated.principal.sessionID == created.principal.sessionID)
      #expect(rotated.tokens.refreshToken != created.tokens.refreshToken)
      #expect(try await h.check(rotated.tokens.accessToken).authenticated)
      let again = try await h.core.refresh(rotated.tokens.refreshToken)

      // The first refresh token again: reuse. The whole session ends.
      await expectCode(.unauthenticated) { try await h.core.refresh(created.tokens.refreshToken) }
      await expectCode(.unauthenticated) { try await h.core.refresh(again.tokens.refreshToken) }
      #expect(try await h.check(again.tokens.accessToken).rejection == .revoked)

      await expectCode(.invalidArgument) { try await h.core.refresh("") }
      await expectCode(.unauthenticated) { try await h.core.refresh("unknown-token") }
      let stored = try await h.pool.query("SELECT count(*)::bigint FROM asgardian.refresh_tokens WHERE token_hash = \(Array(again.tokens.refreshToken.utf8))")
      #expect(try stored[0].decode(Int.self, at: 0) == 0, "refresh tokens are stored hashed only")
    }
  }

  @Test("an expired refresh token is refused; a disabled account's is PERMISSION_DENIED")
  func refreshExpiryAndDisabled() async throws {
    try await Harness.with { h in
      let a = try await h.signUp()
      let b = try await h.signUp()
      try await h.pool.execute("UPDATE asgardian.users SET disabled = true WHERE id = \(UUID(uuidString: b.user.userID)!)")
      await expectCode(.permissionDenied) { try await h.core.refresh(b.tokens.refreshToken) }
      h.clock.advance(by: 30 * 24 * 3600 + 1)
      await expectCode(.unauthenticated) { try await h.core.refresh(a.tokens.refreshToken) }
    }
  }
}
