import Crypto
import Foundation
import Testing
import WebPush

@Suite("Subscription key validation")
struct PushSubscriptionKeysTests {
  static let validPoint = WebPushEncryptionTests.userAgentPublic
  static let validAuth = WebPushEncryptionTests.authSecret

  @Test("Valid keys keep their bytes")
  func valid() throws {
    let keys = try PushSubscriptionKeys(p256dh: Self.validPoint, auth: Self.validAuth)
    #expect(keys.authSecret.count == 16)
    #expect(keys.p256dhBase64URL == Self.validPoint)
    #expect(Base64URL.encode(keys.publicKey.x963Representation) == Self.validPoint)
    // Standard alphabet with padding, as some libraries send it.
    let standard = Self.validPoint.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + "="
    #expect(try PushSubscriptionKeys(p256dh: standard, auth: Self.validAuth + "==").p256dhBase64URL == Self.validPoint)
  }

  @Test(
    "Bad keys are refused with a message naming the field",
    arguments: [
      (String(WebPushEncryptionTests.userAgentPublic.dropLast(4)), WebPushEncryptionTests.authSecret, "keys.p256dh does not decode to 65 bytes (got 62)"),
      ("BCVx!sr7", WebPushEncryptionTests.authSecret, "keys.p256dh is not base64url"),
      (Base64URL.encode([0x05] + [UInt8](repeating: 1, count: 64)), WebPushEncryptionTests.authSecret, "keys.p256dh is not an uncompressed point: it must start with 0x04"),
      (Base64URL.encode([0x04] + [UInt8](repeating: 0, count: 31) + [1] + [UInt8](repeating: 0, count: 31) + [1]), WebPushEncryptionTests.authSecret, "keys.p256dh is not a point on the P-256 curve"),
      (WebPushEncryptionTests.userAgentPublic, "BTBZMqHH6r4Tts7J_aSI", "keys.auth does not decode to 16 bytes (got 15)"),
      (WebPushEncryptionTests.userAgentPublic, "BTBZ MqHH", "keys.auth is not base64url"),
    ]
  )
  func invalid(p256dh: String, auth: String, message: String) {
    let error = #expect(throws: WebPushError.self) {
      try PushSubscriptionKeys(p256dh: p256dh, auth: auth)
    }
    #expect(error?.description == message)
  }
}
