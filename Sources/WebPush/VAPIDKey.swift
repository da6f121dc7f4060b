public import Crypto
public import Foundation

/// The application server's VAPID key pair (RFC 8292): an ECDSA P-256 key that signs the JWT of
/// every push request. Browsers get ``publicKeyBase64URL`` as `applicationServerKey`.
public struct VAPIDKey: Sendable {
  /// The longest token lifetime push services accept.
  public static let maxValidity: Duration = .seconds(24 * 3600)

  // Bytes rather than swift-crypto 3's key types, which are not `Sendable`.
  private let privateScalar: [UInt8]
  private let publicPoint: [UInt8]

  /// A new random key pair.
  public static func generate() -> VAPIDKey {
    VAPIDKey(privateKey: P256.Signing.PrivateKey())
  }

  /// Wraps an existing signing key.
  public init(privateKey: P256.Signing.PrivateKey) {
    self.privateScalar = Array(privateKey.rawRepresentation)
    self.publicPoint = Array(privateKey.publicKey.x963Representation)
  }

  /// Loads a key from its 32-byte private scalar in base64url (what ``privateKeyBase64URL`` gives).
  public init(privateKeyBase64URL: String) throws(WebPushError) {
    guard let raw = Base64URL.decode(privateKeyBase64URL) else {
      throw WebPushError("VAPID private key is not base64url")
    }
    guard raw.count == 32 else {
      throw WebPushError("VAPID private key does not decode to 32 bytes (got \(raw.count))")
    }
    guard let key = try? P256.Signing.PrivateKey(rawRepresentation: raw) else {
      throw WebPushError("VAPID private key is not a valid P-256 scalar")
    }
    self.init(privateKey: key)
  }

  /// The 32-byte private scalar, base64url: keep it secret.
  public var privateKeyBase64URL: String { Base64URL.encode(privateScalar) }

  /// The 65-byte uncompressed public key, base64url (87 characters).
  public var publicKeyBase64URL: String { Base64URL.encode(publicPoint) }

  /// The public key, to verify tokens with.
  public var publicKey: P256.Signing.PublicKey {
    // The point came from a valid private key in `init`, so parsing it cannot fail.
    try! P256.Signing.PublicKey(x963Representation: publicPoint)
  }

  /// The `Authorization` header value for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`.
  ///
  /// The JWT has header `{"typ":"JWT","alg":"ES256"}` and claims `aud` (the endpoint's origin),
  /// `exp` (`now + validFor`, whole seconds) and `sub` (the contact, `mailto:` or `https:`).
  /// - Throws: ``WebPushError`` for a bad endpoint, a bad subject or a lifetime outside 1 s...24 h.
  public func authorizationHeader(
    endpoint: String,
    subject: String,
    validFor: Duration = .seconds(12 * 3600),
    now: Date = Date()
  ) throws(WebPushError) -> String {
    let origin = try PushEndpoint(endpoint).origin
    try Self.validateSubject(subject)
    guard validFor >= .seconds(1), validFor <= Self.maxValidity else {
      throw WebPushError("VAPID token lifetime \(validFor) is outside 1 s...24 h")
    }
    let expiry = Int64(now.timeIntervalSince1970.rounded(.down)) + validFor.components.seconds

    let header = #"{"typ":"JWT","alg":"ES256"}"#
    let claims = #"{"aud":\#(JSONString.quoted(origin)),"exp":\#(expiry),"sub":\#(JSONString.quoted(subject))}"#
    let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
    let signature: P256.Signing.ECDSASignature
    do {
      let privateKey = try P256.Signing.PrivateKey(rawRepresentation: privateScalar)
      signature = try privateKey.signature(for: Array(signingInput.utf8))
    } catch {
      throw WebPushError("signing the VAPID token failed: \(error)")
    }
    let token = signingInput + "." + Base64URL.encode(signature.rawRepresentation)
    return "vapid t=\(token), k=\(publicKeyBase64URL)"
  }

  /// Throws unless `subject` is a `mailto:` or `https:` URL (RFC 8292 section 2.1).
  public static func validateSubject(_ subject: String) throws(WebPushError) {
    let lowered = subject.lowercased()
    guard let scheme = ["mailto:", "https:"].first(where: { lowered.hasPrefix($0) }) else {
      throw WebPushError("VAPID subject '\(subject)' must be a mailto: or https: URL")
    }
    guard subject.count > scheme.count, subject.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
      throw WebPushError("VAPID subject '\(subject)' is empty after its scheme or contains whitespace")
    }
  }
}
