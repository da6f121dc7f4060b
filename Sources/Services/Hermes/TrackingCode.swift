/// Tracking codes: 12 characters of Crockford's base32 alphabet (digits and upper-case letters
/// without I, L, O and U), drawn from the system's CSPRNG.
///
/// 32 symbols give 60 bits per code: guessing one that exists is hopeless, and the alphabet has no
/// look-alikes (no I/1, L/1, O/0), so a person can read a code out over the phone.
public enum TrackingCode {
  /// The symbols a code is made of.
  public static let alphabet: [Character] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
  /// The length of every code.
  public static let length = 12

  /// A fresh code.
  public static func make() -> String {
    var random = SystemRandomNumberGenerator()
    return make(using: &random)
  }

  /// A code drawn from `generator` (tests pass a seeded one; production uses the system's CSPRNG).
  public static func make(using generator: inout some RandomNumberGenerator) -> String {
    String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
  }

  /// The canonical (upper-case) form of `text`, or nil when it does not have a code's shape. Says
  /// nothing of whether a payload has the code.
  public static func canonical(_ text: String) -> String? {
    let upper = text.uppercased()
    guard upper.count == length, upper.allSatisfy({ alphabet.contains($0) }) else { return nil }
    return upper
  }
}
