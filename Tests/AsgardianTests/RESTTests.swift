@testable import Asgardian
import ContractRuntime
import CourierTestSupport
import Foundation
import Gateway
import Generated
import Testing

extension AsgardianDatabaseTests {
  /// Asgardian's REST routes in the gateway core (no sockets), authenticated in process.
  static func gateway(_ h: Harness) throws -> GatewayCore {
    try GatewayCore(
      routes: Courier_Asgardian_V1_AccountService_REST.routes(for: h.account)
        + Courier_Asgardian_V1_UserAdminService_REST.routes(for: h.admin),
      openAPIDocuments: [
        Courier_Asgardian_V1_AccountService_REST.openAPIDocument, Courier_Asgardian_V1_UserAdminService_REST.openAPIDocument,
      ],
      authenticator: AsgardianAuthenticator(core: h.core))
  }

  static func send(
    _ core: GatewayCore, _ method: String, _ target: String, token: String? = nil, body: String? = nil,
    peer: String = "ipv4:198.51.100.5:40000"
  ) async -> (status: Int, json: [String: Any], response: GatewayResponse) {
    var headers: [(name: String, value: String)] = []
    if let token { headers.append(("Authorization", "Bearer \(token)")) }
    if body != nil { headers.append(("Content-Type", "application/json")) }
    let response = await core.respond(
      to: GatewayRequest(method: method, target: target, headers: headers, body: Array((body ?? "").utf8), remotePeer: peer))
    let json = (try? JSONSerialization.jsonObject(with: Data(response.bytes))) as? [String: Any] ?? [:]
    return (response.status, json, response)
  }

  @Test("REST: sign-up, login, profile, logout and the admin routes through the gateway, with their statuses")
  func restFlow() async throws {
    try await Harness.with { h in
      let core = try Self.gateway(h)
      let email = Harness.uniqueEmail()
      let signUp = await Self.send(
        core, "POST", "/auth/signup", body: #"{"email":"\#(email)","password":"correct horse battery","displayName":"Ada"}"#)
      #expect(signUp.status == 200)
      let bad = await Self.send(core, "POST", "/auth/signup", body: #"{"email":"nope","password":"correct horse battery","displayName":"Ada"}"#)
      #expect(bad.status == 400 && bad.json["code"] as? String == "INVALID_ARGUMENT")
      #expect((bad.json["message"] as? String)?.contains("email") == true)

      let login = await Self.send(core, "POST", "/auth/login", body: #"{"email":"\#(email)","password":"correct horse battery"}"#)
      #expect(login.status == 200)
      let tokens = try #require(login.json["tokens"] as? [String: Any])
      let access = try #require(tokens["accessToken"] as? String)

      #expect(await Self.send(core, "GET", "/user/profile").status == 401)
      #expect(await Self.send(core, "GET", "/user/profile", token: "garbage").status == 401)
      let profile = await Self.send(core, "GET", "/user/profile", token: access)
      #expect(profile.status == 200)
      #expect((profile.json["user"] as? [String: Any])?["email"] as? String == email)
      let update = await Self.send(core, "PUT", "/user/profile", token: access, body: #"{"phoneNumber":"+44 20"}"#)
      #expect(update.status == 400)

      #expect(await Self.send(core, "GET", "/user/admin/users", token: access).status == 403)
      let userID = try #require((profile.json["user"] as? [String: Any])?["userId"] as? String)
      _ = try await h.promote(userID)
      // Roles are read at each token check, so the same token now passes.
      #expect(await Self.send(core, "GET", "/user/admin/users?page.page_size=5", token: access).status == 200)
      #expect(await Self.send(core, "GET", "/user/admin/users/\(UUID().uuidString.lowercased())", token: access).status == 404)

      #expect(await Self.send(core, "POST", "/auth/logout", token: access, body: "{}").status == 200)
      #expect(await Self.send(core, "GET", "/user/profile", token: access).status == 401)
    }
  }

  @Test("REST: the 11th bad login in a minute for one account is 429 with Retry-After")
  func restRateLimit() async throws {
    try await Harness.with { h in
      let core = try Self.gateway(h)
      let email = Harness.uniqueEmail()
      _ = try await h.signUp(email: email)
      for attempt in 1...10 {
        let response = await Self.send(
          core, "POST", "/auth/login", body: #"{"email":"\#(email)","password":"wrong \#(attempt)"}"#,
          peer: "ipv4:198.51.100.\(attempt):40000")
        #expect(response.status == 401)
      }
      let limited = await Self.send(core, "POST", "/auth/login", body: #"{"email":"\#(email)","password":"correct horse battery"}"#)
      #expect(limited.status == 429)
      #expect(limited.json["code"] as? String == "RESOURCE_EXHAUSTED")
      let retryAfter = limited.response.header("retry-after").flatMap(Int.init)
      #expect(retryAfter.map { (1...60).contains($0) } == true)
    }
  }

  @Test("REST: the 11th bad login from one client address (behind the trusted proxy) is 429")
  func restRateLimitByAddress() async throws {
    try await Harness.with { h in
      let core = try Self.gateway(h)
      for _ in 1...10 {
        let response = await core.respond(
          to: GatewayRequest(
            method: "POST", target: "/auth/login",
            headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "203.0.113.50")],
            body: Array(#"{"email":"\#(Harness.uniqueEmail())","password":"guess guess"}"#.utf8),
            remotePeer: "ipv4:127.0.0.1:40000"))
        #expect(response.status == 401)
      }
      let limited = await core.respond(
        to: GatewayRequest(
          method: "POST", target: "/auth/login",
          headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "203.0.113.50")],
          body: Array(#"{"email":"\#(Harness.uniqueEmail())","password":"guess guess"}"#.utf8),
          remotePeer: "ipv4:127.0.0.1:40000"))
      #expect(limited.status == 429)
      // Another client behind the same proxy is not affected.
      let other = await core.respond(
        to: GatewayRequest(
          method: "POST", target: "/auth/login",
          headers: [("Content-Type", "application/json"), ("X-Forwarded-For", "203.0.113.51")],
          body: Array(#"{"email":"\#(Harness.uniqueEmail())","password":"guess guess"}"#.utf8),
          remotePeer: "ipv4:127.0.0.1:40000"))
      #expect(other.status == 401)
    }
  }
}
