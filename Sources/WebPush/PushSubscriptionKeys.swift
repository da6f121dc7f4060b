public import Crypto

/// The keys of a browser's push subscription (`PushSubscription.toJSON().keys`), validated.
///
/// `p256dh` must decode to a 65-byte uncompressed point (first byte `0x04`) on P-256, and `auth`
/// to the 16-byte authentication secret (RFC 8291 section 3).
public struct PushSubscriptionKeys: Sendable, Equatable {
  /// The user agent's ECDH public key, 65 bytes uncompressed, already checked to be on P-256. Kept
  /// as bytes because swift-crypto 3's key types are not `Sendable`.
  public let publicKeyBytes: [UInt8]
  /// The 16-byte authentication secret.
  public let authSecret: [UInt8]

  /// Validates the two base64url strings a browser hands out.
  public init(p256dh: String, auth: String) throws(WebPushError) {
    guard let point = Base64URL.decode(p256dh) else {
      throw WebPushError("keys.p256dh is not base64url")
    }
    guard point.count == 65 else {
      throw WebPushError("keys.p256dh does not decode to 65 bytes (got \(point.count))")
    }
    guard point[0] == 0x04 else {
      throw WebPushError("keys.p256dh is not an uncompressed point: it must start with 0x04")
    }
    guard let publicKey = try? P256.KeyAgreement.PublicKey(x963Representation: point) else {
      throw WebPushError("keys.p256dh is not a point on the P-256 curve")
    }
    guard let secret = Base64URL.decode(auth) else {
      throw WebPushError("keys.auth is not base64url")
    }
    guard secret.count == 16 else {
      throw WebPushError("keys.auth does not decode to 16 bytes (got \(secret.count))")
    }
    self.publicKeyBytes = Array(publicKey.x963Representation)
    self.authSecret = secret
  }

  /// The user agent's ECDH public key.
  public var publicKey: P256.KeyAgreement.PublicKey {
    // The bytes parsed as this very key in `init`, so parsing them again cannot fail.
    try! P256.KeyAgreement.PublicKey(x963Representation: publicKeyBytes)
  }

  /// The public key as base64url of its 65-byte uncompressed form.
  public var p256dhBase64URL: String { Base64URL.encode(publicKeyBytes) }
  /// The authentication secret as base64url.
  public var authBase64URL: String { Base64URL.encode(authSecret) }
}
