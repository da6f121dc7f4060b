@testable import Asgardian
import Crypto
import Foundation
import GRPCCore
import Testing

@Suite("Field validation")
struct ValidationTests {
  @Test("emails: trimmed, one @, a dotted domain, at most 254 characters", arguments: [
    (" ada@example.com ", "ada@example.com"), ("a.b+c@mail.example.org", "a.b+c@mail.example.org"),
  ])
  func goodEmails(raw: String, normalized: String) throws {
    #expect(try Validation.email(raw) == normalized)
  }

  @Test("bad emails are INVALID_ARGUMENT naming the field", arguments: [
    "", "   ", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "a@b@example.com", "ada@example.",
    "ada@.com", "ad a@example.com", "ada@exa\u{7}mple.com", String(repeating: "a", count: 250) + "@example.com",
  ])
  func badEmails(raw: String) {
    let error = #expect(throws: RPCError.self) { try Validation.email(raw) }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.contains("email") == true)
  }

  @Test("display names: 1 to 100 characters after trimming, no control characters")
  func displayNames() throws {
    #expect(try Validation.displayName("  Ada  ") == "Ada")
    #expect(try Validation.displayName(String(repeating: "é", count: 100)).count == 100)
    for bad in ["", "   ", String(repeating: "x", count: 101), "Ada\u{0}", "Ada\nLovelace"] {
      let error = #expect(throws: RPCError.self) { try Validation.displayName(bad) }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.contains("display_name") == true)
    }
  }

  @Test("phone numbers: empty or E.164", arguments: ["", "+49", "+4915123456789", "+123456789012345"])
  func goodPhones(raw: String) throws {
    #expect(try Validation.phoneNumber(raw) == raw)
  }

  @Test("bad phone numbers", arguments: ["+0123", "4915123456789", "+4", "+1234567890123456", "+49 151 234", "+49-151", "++491"])
  func badPhones(raw: String) {
    let error = #expect(throws: RPCError.self) { try Validation.phoneNumber(raw) }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.contains("phone_number") == true)
  }

  @Test("passwords: 8 to 128 Unicode scalars")
  func passwords() throws {
    #expect(try Validation.password("12345678") == "12345678")
    #expect(try Validation.password(String(repeating: "ü", count: 128)).unicodeScalars.count == 128)
    #expect(throws: RPCError.self) { try Validation.password("1234567") }
    #expect(throws: RPCError.self) { try Validation.password(String(repeating: "a", count: 129)) }
  }

  @Test("user ids must be UUIDs")
  func userIDs() throws {
    let id = UUID()
    #expect(try Validation.userID(id.uuidString.lowercased()) == id)
    #expect(throws: RPCError.self) { try Validation.userID("") }
    #expect(throws: RPCError.self) { try Validation.userID("not-a-uuid") }
    #expect(throws: RPCError.self) { try Validation.userID(id.uuidString.lowercased() + "0") }
  }
}

@Suite("Password hashing (scrypt)")
struct PasswordHasherTests {
  let hasher = PasswordHasher(parameters: .init(logN: 10, r: 8, p: 1))

  @Test("the stored string is PHC-style and carries its parameters")
  func format() throws {
    let hash = try hasher.hash("correct horse")
    #expect(hash.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
    #expect(hash.split(separator: "$").count == 4)
    #expect(try hasher.hash("correct horse") != hash, "every hash has its own salt")
  }

  @Test("the right password matches, a wrong one does not")
  func verify() throws {
    let hash = try hasher.hash("correct horse")
    #expect(try hasher.verify("correct horse", against: hash) == .match(needsRehash: false))
    #expect(try hasher.verify("correct hors", against: hash) == .mismatch)
    #expect(try hasher.verify("", against: hash) == .mismatch)
    #expect(hasher.verifyAgainstDummy("correct horse") == .mismatch)
  }

  @Test("a hash made with other parameters matches and asks for a rehash")
  func rehash() throws {
    let old = try PasswordHasher(parameters: .init(logN: 9, r: 8, p: 1)).hash("correct horse")
    #expect(try hasher.verify("correct horse", against: old) == .match(needsRehash: true))
  }

  @Test("unreadable hashes are a typed error", arguments: [
    "", "plain", "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$scrypt$ln=10,r=8$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
    "$scrypt$ln=40,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA", "$scrypt$ln=10,r=8,p=1$!!$aGFzaA",
  ])
  func malformed(stored: String) {
    #expect(throws: PasswordHasher.MalformedHash.self) { try hasher.verify("x", against: stored) }
  }

  @Test("constant-time comparison compares whole strings")
  func compare() {
    #expect(PasswordHasher.constantTimeEquals([1, 2, 3], [1, 2, 3]))
    #expect(!PasswordHasher.constantTimeEquals([1, 2, 3], [1, 2, 4]))
    #expect(!PasswordHasher.constantTimeEquals([1, 2, 3], [1, 2]))
  }
}

@Suite("Access tokens (EdDSA JWT)")
struct AccessTokenTests {
  let keys = try! TokenKeySet(signing: .generate(id: "k1"))
  let now = Date(timeIntervalSince1970: 1_800_000_000)

  func makeToken(_ tokens: AccessTokens) throws -> String {
    try tokens.sign(tokens.claims(user: "u1", roles: ["user"], session: "s1", now: now))
  }

  @Test("a token verifies and carries its claims and key id")
  func roundTrip() throws {
    let tokens = AccessTokens(keys: keys)
    let token = try makeToken(tokens)
    let claims = try tokens.verify(token, now: now.addingTimeInterval(60))
    #expect(claims.sub == "u1" && claims.roles == ["user"] && claims.sid == "s1")
    #expect(claims.exp - claims.iat == 900)
    let header = try #require(Base64URL.decode(token.split(separator: ".")[0]))
    #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"EdDSA","typ":"JWT","kid":"k1"}"#)
  }

  @Test("expired after its lifetime")
  func expired() throws {
    let tokens = AccessTokens(keys: keys)
    let token = try makeToken(tokens)
    #expect(throws: AccessTokenFailure.expired) { try tokens.verify(token, now: now.addingTimeInterval(900)) }
  }

  @Test("a changed payload or signature is refused")
  func forged() throws {
    let tokens = AccessTokens(keys: keys)
    let parts = try makeToken(tokens).split(separator: ".").map(String.init)
    let admin = Base64URL.encode(Array(#"{"exp":9999999999,"iat":1,"jti":"x","roles":["admin"],"sid":"s1","sub":"u1"}"#.utf8))
    #expect(throws: AccessTokenFailure.self) { try tokens.verify([parts[0], admin, parts[2]].joined(separator: "."), now: now) }
    var signature = try #require(Base64URL.decode(parts[2]))
    signature[0] ^= 1
    #expect(throws: AccessTokenFailure.self) {
      try tokens.verify([parts[0], parts[1], Base64URL.encode(signature)].joined(separator: "."), now: now)
    }
  }

  @Test("a key id the key set does not know is refused, even when the signature is right for that key")
  func wrongKeyID() throws {
    let other = AccessTokens(keys: try TokenKeySet(signing: .generate(id: "k2")))
    #expect(throws: AccessTokenFailure.malformed("unknown key id")) { try AccessTokens(keys: keys).verify(try makeToken(other), now: now) }
    // Same kid, other key: the signature fails.
    let impostor = AccessTokens(keys: try TokenKeySet(signing: .generate(id: "k1")))
    #expect(throws: AccessTokenFailure.malformed("bad signature")) { try AccessTokens(keys: keys).verify(try makeToken(impostor), now: now) }
  }

  @Test("garbage is malformed", arguments: ["", "abc", "a.b.c", "....", "eyJhbGciOiJub25lIn0.e30.", String(repeating: "a", count: 5000)])
  func garbage(text: String) {
    #expect(throws: AccessTokenFailure.self) { try AccessTokens(keys: keys).verify(text, now: now) }
  }

  @Test("rotation: tokens of the previous key verify while its public key is kept")
  func rotation() throws {
    let old = SigningKey.generate(id: "2026-10")
    let oldToken = try makeToken(AccessTokens(keys: try TokenKeySet(signing: old)))
    let rotated = AccessTokens(keys: try TokenKeySet(signing: .generate(id: "2026-11"), previous: ["2026-10": old.privateKey.publicKey]))
    #expect(try rotated.verify(oldToken, now: now).sub == "u1")
    let parsed = try TokenKeySet.parsePublicKeys("2026-10:\(old.base64PublicKey)")
    #expect(parsed["2026-10"]?.rawRepresentation == old.privateKey.publicKey.rawRepresentation)
    #expect(throws: SigningKeyError.self) { try TokenKeySet.parsePublicKeys("2026-10:AAAA") }
  }

  @Test("configured keys: base64 seed and key id are checked")
  func configuredKeys() throws {
    let key = SigningKey.generate(id: "k")
    #expect(try SigningKey(id: "k", base64PrivateKey: key.base64PrivateKey).base64PublicKey == key.base64PublicKey)
    #expect(throws: SigningKeyError.self) { try SigningKey(id: "k", base64PrivateKey: "not base64!") }
    #expect(throws: SigningKeyError.self) { try SigningKey(id: "k", base64PrivateKey: Data(count: 16).base64EncodedString()) }
    #expect(throws: SigningKeyError.self) { try SigningKey(id: "", base64PrivateKey: key.base64PrivateKey) }
  }

  @Test("the local key file is made once and read back")
  func keyFile() throws {
    let path = NSTemporaryDirectory() + "asgardian-key-\(UUID().uuidString)/signing.key"
    defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
    let first = try SigningKeyFile.loadOrCreate(path: path)
    let second = try SigningKeyFile.loadOrCreate(path: path)
    #expect(first.id == second.id && first.base64PrivateKey == second.base64PrivateKey)
    let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(mode == 0o600)
  }
}

@Suite("Attempt limiter")
struct AttemptLimiterTests {
  @Test("the limit-th event blocks the key until the oldest one leaves the window")
  func window() throws {
    let limiter = AttemptLimiter(limit: 3, window: .seconds(60))
    let start = Date(timeIntervalSince1970: 1000)
    for second in 0..<3 {
      #expect(limiter.check("a", now: start.addingTimeInterval(Double(second))) == nil)
      limiter.record("a", now: start.addingTimeInterval(Double(second)))
    }
    let wait = try #require(limiter.check("a", now: start.addingTimeInterval(10)))
    #expect(wait == .seconds(50))
    #expect(limiter.check("b", now: start.addingTimeInterval(10)) == nil)
    #expect(limiter.check("a", now: start.addingTimeInterval(60.5)) == nil)
    limiter.record("a", now: start.addingTimeInterval(61))
    limiter.reset("a")
    #expect(limiter.check("a", now: start.addingTimeInterval(61)) == nil)
  }
}
