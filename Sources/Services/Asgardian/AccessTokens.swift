import Crypto
public import Foundation

/// The claims of an Asgardian access token.
public struct AccessTokenClaims: Sendable, Hashable, Codable {
  /// The user id.
  public var sub: String
  /// The user's roles when the token was issued (`user`, `admin`, `deliverer`).
  public var roles: [String]
  /// The session (refresh-token family) id; revoking the session rejects the token.
  public var sid: String
  /// Issued at, seconds since 1970.
  public var iat: Int64
  /// Expires at, seconds since 1970.
  public var exp: Int64
  /// The token's own id.
  public var jti: String

  public init(sub: String, roles: [String], sid: String, iat: Int64, exp: Int64, jti: String) {
    self.sub = sub
    self.roles = roles
    self.sid = sid
    self.iat = iat
    self.exp = exp
    self.jti = jti
  }
}

/// Why a token string was refused before any database look-up.
public enum AccessTokenFailure: Error, Sendable, Equatable {
  /// Not three base64url parts, not our header, an unknown key id, or a bad signature.
  case malformed(String)
  /// Well formed and signed, but past `exp`.
  case expired
}

/// Issues and checks EdDSA (Ed25519) JWT access tokens (RFC 7519, RFC 8037): header
/// `{"alg":"EdDSA","typ":"JWT","kid":...}`, claims ``AccessTokenClaims``.
public struct AccessTokens: Sendable {
  public let keys: TokenKeySet
  /// How long an access token is accepted; 15 minutes by default.
  public let lifetime: Duration

  public init(keys: TokenKeySet, lifetime: Duration = .seconds(15 * 60)) {
    self.keys = keys
    self.lifetime = lifetime
  }

  /// A signed token for the claims (the caller sets `iat`/`exp` through ``claims(user:roles:session:now:)``).
  public func sign(_ claims: AccessTokenClaims) throws -> String {
    let header = #"{"alg":"EdDSA","typ":"JWT","kid":"\#(keys.signing.id)"}"#
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let payload = try encoder.encode(claims)
    let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(payload)
    let signature = try keys.signing.privateKey.signature(for: Array(signingInput.utf8))
    return signingInput + "." + Base64URL.encode(signature)
  }

  /// The claims of a new token for a user and session, valid from `now` for ``lifetime``.
  public func claims(user: String, roles: [String], session: String, now: Date) -> AccessTokenClaims {
    let issued = Int64(now.timeIntervalSince1970.rounded(.down))
    return AccessTokenClaims(
      sub: user, roles: roles, sid: session, iat: issued, exp: issued + lifetime.components.seconds,
      jti: UUID().uuidString.lowercased())
  }

  /// Checks format, header, key id, signature and expiry, and returns the claims.
  public func verify(_ token: String, now: Date) throws(AccessTokenFailure) -> AccessTokenClaims {
    guard token.utf8.count <= 4096 else { throw .malformed("the token is too long") }
    let parts = token.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
      let signature = Base64URL.decode(parts[2])
    else { throw .malformed("not a JWT") }
    guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)), header.alg == "EdDSA" else {
      throw .malformed("not an EdDSA JWT")
    }
    guard let kid = header.kid, let key = keys.verificationKey(kid) else {
      throw .malformed("unknown key id")
    }
    let signingInput = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
    guard key.isValidSignature(signature, for: signingInput) else { throw .malformed("bad signature") }
    guard let claims = try? JSONDecoder().decode(AccessTokenClaims.self, from: Data(payloadBytes)) else {
      throw .malformed("bad claims")
    }
    guard Double(claims.exp) > now.timeIntervalSince1970 else { throw .expired }
    return claims
  }

  private struct Header: Decodable {
    var alg: String
    var kid: String?
  }
}
