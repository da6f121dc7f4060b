import Crypto
import Testing
import WebPush

@Suite("Message encryption (RFC 8291, aes128gcm)")
struct WebPushEncryptionTests {
  // RFC 8291 section 5 and Appendix A.
  static let plaintext = "When I grow up, I want to be a watermelon"
  static let serverPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
  static let serverPublic = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
  static let userAgentPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
  static let userAgentPublic = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
  static let authSecret = "BTBZMqHH6r4Tts7J_aSIgg"
  static let salt = "DGv6ra1nlYgDCS1FRnbzlw"
  static let body = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"

  @Test("RFC 8291 Appendix A: fixed keys and salt give the exact body")
  func rfcTestVector() throws {
    let keys = try PushSubscriptionKeys(p256dh: Self.userAgentPublic, auth: Self.authSecret)
    let serverKey = try P256.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](base64URL: Self.serverPrivate))
    #expect(Base64URL.encode(serverKey.publicKey.x963Representation) == Self.serverPublic)

    let body = try WebPushEncryption.encrypt(
      Array(Self.plaintext.utf8),
      for: keys,
      serverKey: serverKey,
      salt: [UInt8](base64URL: Self.salt)
    )
    #expect(Base64URL.encode(body) == Self.body)
  }

  @Test("The RFC body decrypts with the user agent's private key")
  func rfcBodyDecrypts() throws {
    let userAgent = try P256.KeyAgreement.PrivateKey(rawRepresentation: [UInt8](base64URL: Self.userAgentPrivate))
    let plaintext = try TestDecryption.decrypt(
      [UInt8](base64URL: Self.body),
      userAgentKey: userAgent,
      authSecret: [UInt8](base64URL: Self.authSecret)
    )
    #expect(String(decoding: plaintext, as: UTF8.self) == Self.plaintext)
  }

  @Test("Round trip with fresh keys and salt", arguments: [0, 1, 100, WebPushEncryption.maxPlaintextSize])
  func roundTrip(size: Int) throws {
    let userAgent = P256.KeyAgreement.PrivateKey()
    let auth = (0..<16).map { UInt8($0 * 7) }
    let keys = try PushSubscriptionKeys(
      p256dh: Base64URL.encode(userAgent.publicKey.x963Representation),
      auth: Base64URL.encode(auth)
    )
    let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
    let body = try WebPushEncryption.encrypt(message, for: keys)
    #expect(body.count == 86 + size + 17)
    #expect(body.count <= 4096)
    #expect(Array(body[16..<21]) == [0, 0, 0x10, 0, 65])
    #expect(try TestDecryption.decrypt(body, userAgentKey: userAgent, authSecret: auth) == message)

    // A new salt and server key per message: the same plaintext never gives the same body.
    let again = try WebPushEncryption.encrypt(message, for: keys)
    #expect(Array(again[0..<16]) != Array(body[0..<16]))
    #expect(Array(again[21..<86]) != Array(body[21..<86]))
  }

  @Test("A plaintext that does not fit one record is refused")
  func tooLarge() throws {
    #expect(WebPushEncryption.maxPlaintextSize == 3993)
    let keys = try PushSubscriptionKeys(p256dh: Self.userAgentPublic, auth: Self.authSecret)
    let error = #expect(throws: WebPushError.self) {
      try WebPushEncryption.encrypt([UInt8](repeating: 1, count: 3994), for: keys)
    }
    #expect(error?.message.contains("3994 bytes is too large") == true)
    #expect(throws: WebPushError.self) {
      try WebPushEncryption.encrypt([UInt8](repeating: 1, count: 100), for: keys, recordSize: 116)
    }
    #expect(throws: Never.self) {
      try WebPushEncryption.encrypt([UInt8](repeating: 1, count: 100), for: keys, recordSize: 117)
    }
    #expect(throws: WebPushError.self) {
      try WebPushEncryption.encrypt([1], for: keys, salt: [1, 2, 3])
    }
  }
}
