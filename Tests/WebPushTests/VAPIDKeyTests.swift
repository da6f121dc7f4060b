import Crypto
import Foundation
import Testing
import WebPush

@Suite("VAPID (RFC 8292)")
struct VAPIDKeyTests {
  struct Token {
    var header: [String: Any]
    var claims: [String: Any]
    var key: String
  }

  /// Splits `vapid t=..., k=...`, decodes the JWT and checks its ES256 signature with `k`.
  static func verify(_ authorization: String) throws -> Token {
    let prefix = "vapid t="
    #expect(authorization.hasPrefix(prefix))
    let parts = authorization.dropFirst(prefix.count).components(separatedBy: ", k=")
    try #require(parts.count == 2)
    let jwt = parts[0].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    try #require(jwt.count == 3)

    let signature = try P256.Signing.ECDSASignature(rawRepresentation: [UInt8](base64URL: jwt[2]))
    let publicKey = try P256.Signing.PublicKey(x963Representation: [UInt8](base64URL: parts[1]))
    #expect(publicKey.isValidSignature(signature, for: Array((jwt[0] + "." + jwt[1]).utf8)))

    let header = try JSONSerialization.jsonObject(with: Data([UInt8](base64URL: jwt[0]))) as? [String: Any]
    let claims = try JSONSerialization.jsonObject(with: Data([UInt8](base64URL: jwt[1]))) as? [String: Any]
    return Token(header: try #require(header), claims: try #require(claims), key: parts[1])
  }

  @Test("The token has the ES256 header and aud, exp, sub claims, and its signature verifies")
  func token() throws {
    let key = VAPIDKey.generate()
    let now = Date(timeIntervalSince1970: 1_800_000_000.7)
    let header = try key.authorizationHeader(
      endpoint: "https://Push.Example.net/wpush/v2/abc?x=1",
      subject: "mailto:ops@courier.test",
      validFor: .seconds(3600),
      now: now
    )
    let token = try Self.verify(header)
    #expect(token.header["typ"] as? String == "JWT")
    #expect(token.header["alg"] as? String == "ES256")
    #expect(token.header.count == 2)
    #expect(token.claims["aud"] as? String == "https://push.example.net")
    #expect(token.claims["exp"] as? Int == 1_800_003_600)
    #expect(token.claims["sub"] as? String == "mailto:ops@courier.test")
    #expect(token.key == key.publicKeyBase64URL)
  }

  @Test("A token checked against another key does not verify")
  func otherKey() throws {
    let header = try VAPIDKey.generate().authorizationHeader(endpoint: "https://p.test/x", subject: "https://courier.test")
    let jwt = header.dropFirst("vapid t=".count).prefix { $0 != "," }.split(separator: ".").map(String.init)
    let signature = try P256.Signing.ECDSASignature(rawRepresentation: [UInt8](base64URL: jwt[2]))
    let signingInput = Array((jwt[0] + "." + jwt[1]).utf8)
    #expect(!VAPIDKey.generate().publicKey.isValidSignature(signature, for: signingInput))
    #expect(!P256.Signing.PrivateKey().publicKey.isValidSignature(signature, for: signingInput + [0]))
  }

  @Test(
    "aud is the endpoint's origin",
    arguments: [
      ("https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"),
      ("https://updates.push.services.mozilla.com:443/wpush/v2/x", "https://updates.push.services.mozilla.com"),
      ("https://127.0.0.1:8443/push/a", "https://127.0.0.1:8443"),
      ("HTTPS://[::1]:9000/p", "https://[::1]:9000"),
      ("https://host.test", "https://host.test"),
    ]
  )
  func audience(endpoint: String, origin: String) throws {
    let header = try VAPIDKey.generate().authorizationHeader(endpoint: endpoint, subject: "mailto:a@b.test")
    #expect(try Self.verify(header).claims["aud"] as? String == origin)
  }

  @Test("The private key round-trips through base64url; the public key is 87 characters")
  func keyText() throws {
    let key = VAPIDKey.generate()
    #expect(key.publicKeyBase64URL.count == 87)
    #expect(key.privateKeyBase64URL.count == 43)
    let loaded = try VAPIDKey(privateKeyBase64URL: key.privateKeyBase64URL)
    #expect(loaded.publicKeyBase64URL == key.publicKeyBase64URL)
    #expect(Base64URL.encode(loaded.publicKey.x963Representation) == key.publicKeyBase64URL)
  }

  @Test("Bad private keys are refused")
  func badKeys() {
    #expect(throws: WebPushError("VAPID private key does not decode to 32 bytes (got 31)")) {
      try VAPIDKey(privateKeyBase64URL: Base64URL.encode([UInt8](repeating: 7, count: 31)))
    }
    #expect(throws: WebPushError("VAPID private key is not base64url")) {
      try VAPIDKey(privateKeyBase64URL: "not*base64")
    }
    // Zero is not a valid scalar.
    #expect(throws: WebPushError("VAPID private key is not a valid P-256 scalar")) {
      try VAPIDKey(privateKeyBase64URL: Base64URL.encode([UInt8](repeating: 0, count: 32)))
    }
  }

  @Test("Bad subjects, lifetimes and endpoints are refused")
  func badInput() {
    let key = VAPIDKey.generate()
    #expect(throws: WebPushError.self) { try key.authorizationHeader(endpoint: "https://p.test/x", subject: "ops@courier.test") }
    #expect(throws: WebPushError.self) { try key.authorizationHeader(endpoint: "https://p.test/x", subject: "mailto:") }
    #expect(throws: WebPushError.self) {
      try key.authorizationHeader(endpoint: "https://p.test/x", subject: "mailto:a@b.test", validFor: .seconds(24 * 3600 + 1))
    }
    #expect(throws: Never.self) {
      try key.authorizationHeader(endpoint: "https://p.test/x", subject: "mailto:a@b.test", validFor: .seconds(24 * 3600))
    }
    #expect(throws: WebPushError.self) { try key.authorizationHeader(endpoint: "http://p.test/x", subject: "mailto:a@b.test") }
  }

  @Test("A subject with quotes is escaped in the claims")
  func escaping() throws {
    let header = try VAPIDKey.generate().authorizationHeader(endpoint: "https://p.test/x", subject: #"mailto:"odd\name"@b.test"#)
    #expect(try Self.verify(header).claims["sub"] as? String == #"mailto:"odd\name"@b.test"#)
  }
}
