public import Crypto
public import Foundation

/// An Ed25519 key that signs access tokens, named by a key id (`kid` in the token header).
///
/// Make one for configuration with either of:
/// ```
/// openssl genpkey -algorithm ed25519 -outform DER | tail -c 32 | base64     # the raw 32-byte seed
/// swift run courier asgardian generate-key                                  # (the CLI, later)
/// ```
/// and set `ASGARDIAN_SIGNING_KEY` to the base64 text and `ASGARDIAN_SIGNING_KEY_ID` to a new id
/// (e.g. the date: `2026-11`). Local runs without them use a key file made on first start
/// (``SigningKeyFile``).
public struct SigningKey: Sendable {
  /// The key id written into every token this key signs.
  public let id: String
  /// The 32-byte seed. Kept as bytes: swift-crypto 3's key types are not `Sendable`.
  private let seed: Data

  public init(id: String, privateKey: Curve25519.Signing.PrivateKey) {
    self.id = id
    self.seed = privateKey.rawRepresentation
  }

  /// The signing key.
  public var privateKey: Curve25519.Signing.PrivateKey {
    // The seed came from a valid key, so it always makes one.
    try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
  }

  /// A key from its base64 32-byte seed (what `openssl ... | tail -c 32 | base64` prints).
  /// - Throws: ``SigningKeyError`` naming what is wrong.
  public init(id: String, base64PrivateKey: String) throws(SigningKeyError) {
    guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
      throw SigningKeyError(message: "the key id must be 1 to 64 visible ASCII characters without quotes or backslashes")
    }
    guard let bytes = Data(base64Encoded: base64PrivateKey.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw SigningKeyError(message: "the signing key of '\(id)' is not base64")
    }
    guard bytes.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes) else {
      throw SigningKeyError(message: "the signing key of '\(id)' must be a 32-byte Ed25519 seed, got \(bytes.count) bytes")
    }
    self.init(id: id, privateKey: key)
  }

  /// A new random key.
  public static func generate(id: String) -> SigningKey {
    SigningKey(id: id, privateKey: Curve25519.Signing.PrivateKey())
  }

  /// The seed, base64: what to put in `ASGARDIAN_SIGNING_KEY`.
  public var base64PrivateKey: String { privateKey.rawRepresentation.base64EncodedString() }

  /// The public key, base64: what to put in `ASGARDIAN_VERIFY_KEYS` after a rotation.
  public var base64PublicKey: String { privateKey.publicKey.rawRepresentation.base64EncodedString() }
}

/// A key that cannot be used, with the reason.
public struct SigningKeyError: Error, CustomStringConvertible, Equatable {
  public var message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}

/// The keys Asgardian signs with (one) and verifies with (that one and any earlier ones still
/// trusted), so keys rotate without logging everybody out: sign with the new key, keep the old
/// public key for verification until the last token it signed has expired (the access token
/// lifetime), then drop it.
public struct TokenKeySet: Sendable {
  /// The key new tokens are signed with.
  public let signing: SigningKey
  /// Every key id that verifies (the signing key's included), with its raw 32-byte public key.
  public let verifying: [String: Data]

  /// - Parameter previous: public keys of earlier signing keys, by key id.
  /// - Throws: ``SigningKeyError`` when a previous key reuses the signing key's id with another key.
  public init(signing: SigningKey, previous: [String: Curve25519.Signing.PublicKey] = [:]) throws(SigningKeyError) {
    if let clash = previous[signing.id], clash.rawRepresentation != signing.privateKey.publicKey.rawRepresentation {
      throw SigningKeyError(message: "key id '\(signing.id)' names both the signing key and another verification key")
    }
    var verifying = previous.mapValues(\.rawRepresentation)
    verifying[signing.id] = signing.privateKey.publicKey.rawRepresentation
    self.signing = signing
    self.verifying = verifying
  }

  /// The public key that verifies tokens of `keyID`, if it is trusted.
  public func verificationKey(_ keyID: String) -> Curve25519.Signing.PublicKey? {
    verifying[keyID].flatMap { try? Curve25519.Signing.PublicKey(rawRepresentation: $0) }
  }

  /// Parses `kid:base64publickey` pairs separated by commas (the `ASGARDIAN_VERIFY_KEYS` format).
  public static func parsePublicKeys(_ text: String) throws(SigningKeyError) -> [String: Curve25519.Signing.PublicKey] {
    var keys: [String: Curve25519.Signing.PublicKey] = [:]
    for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
      guard let colon = entry.firstIndex(of: ":") else {
        throw SigningKeyError(message: "verification key '\(entry)' is not kid:base64")
      }
      let id = String(entry[..<colon])
      guard let bytes = Data(base64Encoded: String(entry[entry.index(after: colon)...])), bytes.count == 32,
        let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)
      else {
        throw SigningKeyError(message: "verification key '\(id)' must be a base64 32-byte Ed25519 public key")
      }
      keys[id] = key
    }
    return keys
  }
}

/// A signing key kept in a file, for local runs: created with a random key on first start, read on
/// later starts. The file (mode 0600) holds `<kid>\n<base64 seed>\n`. Never use it in production:
/// replicas would each make their own key.
public enum SigningKeyFile {
  /// Reads the key at `path`, or creates the file with a new key when it does not exist.
  public static func loadOrCreate(path: String) throws -> SigningKey {
    let manager = FileManager.default
    if manager.fileExists(atPath: path) {
      let text = try String(contentsOfFile: path, encoding: .utf8)
      let lines = text.split(whereSeparator: \.isNewline).map(String.init)
      guard lines.count == 2 else {
        throw SigningKeyError(message: "key file \(path) must hold two lines: the key id and the base64 seed")
      }
      return try SigningKey(id: lines[0], base64PrivateKey: lines[1])
    }
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty { try manager.createDirectory(atPath: directory, withIntermediateDirectories: true) }
    let key = SigningKey.generate(id: "local-" + String(UUID().uuidString.prefix(8)).lowercased())
    guard manager.createFile(atPath: path, contents: Data("\(key.id)\n\(key.base64PrivateKey)\n".utf8), attributes: [.posixPermissions: 0o600])
    else {
      throw SigningKeyError(message: "cannot create key file \(path)")
    }
    return key
  }
}
