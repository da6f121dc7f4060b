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
/// ones for `negativeTTL`. Errors are never cached. At most `capacity` tokens are kept; when full,
/// expired entries are dropped first and then the whole cache.
public final class CachingAuthenticator: Authenticator {
  private struct Entry {
    var caller: Caller?
    var expires: ContinuousClock.Instant
  }

  private let upstream: any Authenticator
  private let ttl: Duration
  private let negativeTTL: Duration
  private let capacity: Int
  private let now: @Sendable () -> ContinuousClock.Instant
  private let entries = Mutex<[String: Entry]>([:])

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
    self.capacity = capacity
    self.now = now
  }

  public func authenticate(bearerToken: String) async throws -> Caller? {
    let instant = now()
    if let entry = entries.withLock({ $0[bearerToken] }), entry.expires > instant {
      return entry.caller
    }
    let caller = try await upstream.authenticate(bearerToken: bearerToken)
    let entry = Entry(caller: caller, expires: now() + (caller == nil ? negativeTTL : ttl))
    entries.withLock { cache in
      if cache.count >= capacity {
        let current = now()
        cache = cache.filter { $0.value.expires > current }
        if cache.count >= capacity { cache.removeAll(keepingCapacity: true) }
      }
      cache[bearerToken] = entry
    }
    return caller
  }
}
