public import Crypto
internal import Foundation

/// Web Push message encryption (RFC 8291) in the `aes128gcm` content coding (RFC 8188).
///
/// The body is the RFC 8188 header (16-byte salt, 4-byte record size, key id length 65, the
/// server's ephemeral public key) followed by one record: the plaintext, the last-record padding
/// delimiter `0x02`, encrypted with AES-128-GCM.
public enum WebPushEncryption {
  /// Header bytes before the record: salt (16), rs (4), idlen (1), public key (65).
  static let headerSize = 86
  /// The GCM tag (16) and the padding delimiter (1) that every record adds.
  static let recordOverhead = 17
  /// The body size every push service must accept (RFC 8030 section 7.2).
  static let maxBodySize = 4096

  /// The largest plaintext that fits one 4096-byte body: 4096 - 86 - 17 = 3993 bytes.
  public static let maxPlaintextSize: Int = maxBodySize - headerSize - recordOverhead

  /// Encrypts `plaintext` for a subscription.
  ///
  /// - Parameters:
  ///   - serverKey: the ephemeral key; a new one per message (pass a fixed one only in tests).
  ///   - salt: 16 random bytes; a new one per message unless given (tests only).
  ///   - recordSize: the `rs` header field; the one record must fit in it.
  /// - Throws: ``WebPushError`` when the plaintext does not fit one record or the salt or record
  ///   size is invalid.
  public static func encrypt(
    _ plaintext: [UInt8],
    for keys: PushSubscriptionKeys,
    serverKey: P256.KeyAgreement.PrivateKey = .init(),
    salt: [UInt8]? = nil,
    recordSize: Int = 4096
  ) throws(WebPushError) -> [UInt8] {
    guard recordSize >= 18, recordSize <= Int(UInt32.max) else {
      throw WebPushError("record size \(recordSize) is outside 18...\(UInt32.max)")
    }
    guard plaintext.count <= maxPlaintextSize, plaintext.count + recordOverhead <= recordSize else {
      let limit = min(maxPlaintextSize, recordSize - recordOverhead)
      throw WebPushError("payload of \(plaintext.count) bytes is too large: at most \(limit) bytes fit one push message")
    }
    let salt = salt ?? randomBytes(16)
    guard salt.count == 16 else {
      throw WebPushError("salt must be 16 bytes (got \(salt.count))")
    }

    let serverPublic = serverKey.publicKey.x963Representation
    let (contentKey, nonce) = try deriveContentKey(
      serverKey: serverKey,
      userAgentKey: keys.publicKey,
      authSecret: keys.authSecret,
      salt: salt
    )
    let record = plaintext + [0x02]
    let sealed: AES.GCM.SealedBox
    do {
      sealed = try AES.GCM.seal(record, using: contentKey, nonce: AES.GCM.Nonce(data: nonce))
    } catch {
      throw WebPushError("AES-128-GCM encryption failed: \(error)")
    }

    var body: [UInt8] = []
    body.reserveCapacity(headerSize + record.count + 16)
    body += salt
    let rs = UInt32(recordSize)
    body += [UInt8(rs >> 24 & 0xFF), UInt8(rs >> 16 & 0xFF), UInt8(rs >> 8 & 0xFF), UInt8(rs & 0xFF)]
    body.append(UInt8(serverPublic.count))
    body += serverPublic
    body += sealed.ciphertext
    body += sealed.tag
    return body
  }

  /// The content encryption key and nonce of RFC 8291 section 3.4 and RFC 8188 section 2.2.
  static func deriveContentKey(
    serverKey: P256.KeyAgreement.PrivateKey,
    userAgentKey: P256.KeyAgreement.PublicKey,
    authSecret: [UInt8],
    salt: [UInt8]
  ) throws(WebPushError) -> (key: SymmetricKey, nonce: [UInt8]) {
    let shared: SharedSecret
    do {
      shared = try serverKey.sharedSecretFromKeyAgreement(with: userAgentKey)
    } catch {
      throw WebPushError("ECDH with keys.p256dh failed: \(error)")
    }
    // key_info = "WebPush: info" || 0x00 || ua_public || as_public
    let keyInfo = Array("WebPush: info".utf8) + [0]
      + Array(userAgentKey.x963Representation) + Array(serverKey.publicKey.x963Representation)
    let ikm = shared.hkdfDerivedSymmetricKey(
      using: SHA256.self,
      salt: authSecret,
      sharedInfo: keyInfo,
      outputByteCount: 32
    )
    let contentKey = HKDF<SHA256>.deriveKey(
      inputKeyMaterial: ikm,
      salt: salt,
      info: Array("Content-Encoding: aes128gcm".utf8) + [0],
      outputByteCount: 16
    )
    let nonce = HKDF<SHA256>.deriveKey(
      inputKeyMaterial: ikm,
      salt: salt,
      info: Array("Content-Encoding: nonce".utf8) + [0],
      outputByteCount: 12
    )
    return (contentKey, nonce.withUnsafeBytes { Array($0) })
  }

  static func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
  }
}
