public import ContractRuntime
import Synchronization

/// Turns a bearer token into the caller it belongs to. The production one asks Asgardian's
/// `IsAuthenticated`; wrap it in `CachingAuthenticator` so that a burst of calls costs one lookup.
public protocol Authenticator: Sendable {
  /// The caller the token belongs to, or nil when the token is unknown, expired or revoked.
  ///
  /// - Throws: when the token could not be checked (the identity service is unreachable); the
  ///   gateway answers 503 UNAVAILABLE.
  func authenticate(bearerToken: String) async throws -> Caller?
}

/// A fixed table of tokens, for tests and local runs.
public struct StaticTokenAuthenticator: Authenticator {
  private let callers: [String: Caller]

  public init(_ callers: [String: Caller]) {
    self.callers = callers
  }

  public func authenticate(bearerToken: String) async throws -> Caller? {
    callers[bearerToken]
  }
}

/// Remembers another authenticator's answers for a short time: accepted tokens for `ttl`, rejected
/// ones for `negativeTTL`. Errors are never cached. At most `capacity` tokens are kept (see
/// ``ExpiringCache``).
public final class CachingAuthenticator: Authenticator {
  private let upstream: any Authenticator
  private let ttl: Duration
  private let negativeTTL: Duration
  private let cache: ExpiringCache<String, Caller?>

  /// - Parameter now: the clock; tests pass their own to move time without waiting.
  public init(
    wrapping upstream: any Authenticator,
    ttl: Duration = .seconds(30),
    negativeTTL: Duration = .seconds(5),
    capacity: Int = 10_000,
    now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
  ) {
    self.upstream = upstream
    self.ttl = ttl
    self.negativeTTL = negativeTTL
    self.cache = ExpiringCache(capacity: capacity, now: now)
  }

  public func authenticate(bearerToken: String) async throws -> Caller? {
    try await cache.value(for: bearerToken, lifetime: { $0 == nil ? negativeTTL : ttl }) {
      try await upstream.authenticate(bearerToken: bearerToken)
    }
  }
}
