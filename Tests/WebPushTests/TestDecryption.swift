import Crypto
import Foundation
import WebPush

/// A receiver's side of RFC 8291 / RFC 8188, written apart from the module's encryption (HKDF by
/// hand over HMAC) so that the tests check one against the other.
enum TestDecryption {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  static func decrypt(_ body: [UInt8], userAgentKey: P256.KeyAgreement.PrivateKey, authSecret: [UInt8]) throws -> [UInt8] {
    guard body.count > 86 else { throw Failure(description: "body shorter than the header") }
    let salt = Array(body[0..<16])
    let recordSize = body[16..<20].reduce(0) { $0 << 8 | Int($1) }
    let idLength = Int(body[20])
    guard idLength == 65 else { throw Failure(description: "idlen \(idLength)") }
    let serverPublic = Array(body[21..<86])
    let record = Array(body[86...])
    guard record.count <= recordSize else { throw Failure(description: "record larger than rs") }

    let serverKey = try P256.KeyAgreement.PublicKey(x963Representation: serverPublic)
    let shared = try userAgentKey.sharedSecretFromKeyAgreement(with: serverKey)
    let ecdh = shared.withUnsafeBytes { Array($0) }

    let keyInfo = Array("WebPush: info\0".utf8) + Array(userAgentKey.publicKey.x963Representation) + serverPublic
    let ikm = hkdf(salt: authSecret, ikm: ecdh, info: keyInfo, length: 32)
    let cek = hkdf(salt: salt, ikm: ikm, info: Array("Content-Encoding: aes128gcm\0".utf8), length: 16)
    let nonce = hkdf(salt: salt, ikm: ikm, info: Array("Content-Encoding: nonce\0".utf8), length: 12)

    let box = try AES.GCM.SealedBox(
      nonce: AES.GCM.Nonce(data: nonce),
      ciphertext: record.dropLast(16),
      tag: record.suffix(16)
    )
    var padded = Array(try AES.GCM.open(box, using: SymmetricKey(data: cek)))
    while let last = padded.last, last == 0 { padded.removeLast() }
    guard padded.last == 0x02 else { throw Failure(description: "last record lacks the 0x02 delimiter") }
    padded.removeLast()
    return padded
  }

  /// HKDF-SHA256 (RFC 5869), extract then expand, for lengths up to 32.
  static func hkdf(salt: [UInt8], ikm: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
    let prk = Array(HMAC<SHA256>.authenticationCode(for: ikm, using: SymmetricKey(data: salt)))
    let okm = Array(HMAC<SHA256>.authenticationCode(for: info + [1], using: SymmetricKey(data: prk)))
    return Array(okm.prefix(length))
  }
}

extension Array where Element == UInt8 {
  /// Base64url test data, which must decode.
  init(base64URL text: String) {
    guard let bytes = Base64URL.decode(text) else { fatalError("bad base64url in a test: \(text)") }
    self = bytes
  }
}
