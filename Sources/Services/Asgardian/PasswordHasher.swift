import Crypto
import _CryptoExtras
import Foundation

/// Hashes and checks passwords with scrypt (swift-crypto's `_CryptoExtras.KDF.Scrypt`, BoringSSL's
/// implementation), stored as a PHC-style string: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` with salt and
/// hash in unpadded standard base64.
///
/// Why scrypt: it is memory-hard, it ships with swift-crypto (no extra C library to install or
/// audit), and its parameters travel in the stored string, so they can be raised later: a login
/// whose hash used other parameters is rehashed (``Verification/needsRehash``).
public struct PasswordHasher: Sendable {
  /// scrypt's cost parameters.
  public struct Parameters: Sendable, Hashable, CustomStringConvertible {
    /// log2 of N, the CPU/memory cost. Memory is 128 * r * 2^ln bytes: 32 MiB for ln 15, r 8.
    public var logN: Int
    /// The block size.
    public var r: Int
    /// The parallelism.
    public var p: Int

    public init(logN: Int, r: Int, p: Int) {
      self.logN = logN
      self.r = r
      self.p = p
    }

    /// Production default: N = 2^15, r = 8, p = 1 (32 MiB, roughly 50-100 ms on one core).
    public static var defaults: Parameters { Parameters(logN: 15, r: 8, p: 1) }

    public var description: String { "ln=\(logN),r=\(r),p=\(p)" }

    /// Bounds that keep a stored string from asking for absurd work.
    var isSane: Bool { (1...22).contains(logN) && (1...32).contains(r) && (1...16).contains(p) }
  }

  /// What checking a password against a stored hash found.
  public enum Verification: Sendable, Equatable {
    /// The password matches. `needsRehash` is true when the stored hash used other parameters than
    /// the hasher's current ones: store `hash(password)` anew.
    case match(needsRehash: Bool)
    case mismatch
  }

  /// A stored hash that cannot be read.
  public struct MalformedHash: Error, CustomStringConvertible {
    public var description: String
  }

  /// The parameters new hashes are made with.
  public let parameters: Parameters
  private let saltLength = 16
  private let hashLength = 32
  /// A hash of a random password made with the current parameters: checked when the email is
  /// unknown, so that an unknown email costs the same time as a wrong password.
  private let dummyHash: String

  /// - Precondition: `parameters` are within scrypt's sane bounds (ln 1-22, r 1-32, p 1-16).
  public init(parameters: Parameters = .defaults) {
    precondition(parameters.isSane, "scrypt parameters out of range: \(parameters)")
    self.parameters = parameters
    var random = SystemRandomNumberGenerator()
    let password = (0..<24).map { _ in Character(UnicodeScalar(UInt8.random(in: 0x21...0x7E, using: &random))) }
    // Cannot fail: the parameters were checked above.
    self.dummyHash = (try? Self.makeHash(String(password), parameters: parameters, saltLength: 16, hashLength: 32)) ?? ""
  }

  /// A new PHC string for `password` with a fresh random salt.
  public func hash(_ password: String) throws -> String {
    try Self.makeHash(password, parameters: parameters, saltLength: saltLength, hashLength: hashLength)
  }

  /// Checks `password` against a stored PHC string in constant time.
  ///
  /// - Throws: ``MalformedHash`` when `stored` is not a scrypt PHC string this type can read.
  public func verify(_ password: String, against stored: String) throws -> Verification {
    let (storedParameters, salt, expected) = try Self.parse(stored)
    let derived = try Self.derive(password, salt: salt, parameters: storedParameters, length: expected.count)
    guard Self.constantTimeEquals(derived, expected) else { return .mismatch }
    return .match(needsRehash: storedParameters != parameters)
  }

  /// Spends the time of one verification without a stored hash: for logins with an unknown email.
  /// Always returns `.mismatch`.
  public func verifyAgainstDummy(_ password: String) -> Verification {
    _ = try? verify(password, against: dummyHash)
    return .mismatch
  }

  // MARK: Encoding

  static func makeHash(_ password: String, parameters: Parameters, saltLength: Int, hashLength: Int) throws -> String {
    var salt = [UInt8](repeating: 0, count: saltLength)
    var random = SystemRandomNumberGenerator()
    for index in salt.indices { salt[index] = random.next() }
    let derived = try derive(password, salt: salt, parameters: parameters, length: hashLength)
    return "$scrypt$\(parameters)$\(base64(salt))$\(base64(derived))"
  }

  static func derive(_ password: String, salt: [UInt8], parameters: Parameters, length: Int) throws -> [UInt8] {
    let key = try KDF.Scrypt.deriveKey(
      from: Array(password.utf8), salt: salt, outputByteCount: length,
      rounds: 1 << parameters.logN, blockSize: parameters.r, parallelism: parameters.p)
    return key.withUnsafeBytes { Array($0) }
  }

  static func parse(_ stored: String) throws -> (Parameters, [UInt8], [UInt8]) {
    // "", "scrypt", "ln=..,r=..,p=..", salt, hash
    let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
    guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else {
      throw MalformedHash(description: "not a $scrypt$ PHC string")
    }
    var values: [String: Int] = [:]
    for pair in parts[2].split(separator: ",") {
      let keyValue = pair.split(separator: "=", maxSplits: 1)
      guard keyValue.count == 2, let number = Int(keyValue[1]) else {
        throw MalformedHash(description: "bad scrypt parameter '\(pair)'")
      }
      values[String(keyValue[0])] = number
    }
    guard let logN = values["ln"], let r = values["r"], let p = values["p"] else {
      throw MalformedHash(description: "scrypt parameters ln, r and p are required")
    }
    let parameters = Parameters(logN: logN, r: r, p: p)
    guard parameters.isSane else { throw MalformedHash(description: "scrypt parameters out of range: \(parameters)") }
    guard let salt = unbase64(parts[3]), let hash = unbase64(parts[4]), !salt.isEmpty, (16...64).contains(hash.count)
    else {
      throw MalformedHash(description: "bad salt or hash encoding")
    }
    return (parameters, salt, hash)
  }

  /// Compares two byte strings in time that depends only on their lengths.
  static func constantTimeEquals(_ left: [UInt8], _ right: [UInt8]) -> Bool {
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for index in left.indices { difference |= left[index] ^ right[index] }
    return difference == 0
  }

  static func base64(_ bytes: [UInt8]) -> String {
    var text = Data(bytes).base64EncodedString()
    while text.hasSuffix("=") { text.removeLast() }
    return text
  }

  static func unbase64(_ text: Substring) -> [UInt8]? {
    var padded = String(text)
    while padded.count % 4 != 0 { padded += "=" }
    return Data(base64Encoded: padded).map { Array($0) }
  }
}
