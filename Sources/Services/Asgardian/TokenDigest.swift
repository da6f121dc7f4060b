import Crypto

/// How opaque tokens (refresh and reset tokens) are stored: only their SHA-256, so a copy of the
/// database does not hand out sessions. The tokens carry 256 random bits, so an unsalted fast hash
/// is enough.
enum TokenDigest {
  static func sha256(_ token: String) -> [UInt8] {
    Array(SHA256.hash(data: Array(token.utf8)))
  }
}
