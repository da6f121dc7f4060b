import Synchronization

/// Answers remembered for a while, shared by the callers that ask a remote service the same
/// question in bursts (token checks, user look-ups). Each entry has its own lifetime. At most
/// `capacity` entries are kept: when full, expired ones go first, then everything (a burst of new
/// keys costs a refill, never unbounded memory). Errors are the caller's business: only answers
/// are stored.
public final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
  private struct Entry {
    var value: Value
    var expires: ContinuousClock.Instant
  }

  private let capacity: Int
  private let now: @Sendable () -> ContinuousClock.Instant
  private let entries = Mutex<[Key: Entry]>([:])

  /// - Parameter now: the clock; tests pass their own to move time without waiting.
  public init(capacity: Int = 10_000, now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
    precondition(capacity > 0, "a cache needs room for one entry")
    self.capacity = capacity
    self.now = now
  }

  /// The remembered answer for `key`, if it has not expired.
  public func value(for key: Key) -> Value? {
    let instant = now()
    return entries.withLock { entries in
      guard let entry = entries[key], entry.expires > instant else { return nil }
      return entry.value
    }
  }

  /// Remembers `value` for `key` during `lifetime` from now.
  public func store(_ value: Value, for key: Key, lifetime: Duration) {
    let instant = now()
    entries.withLock { entries in
      if entries[key] == nil, entries.count >= capacity {
        entries = entries.filter { $0.value.expires > instant }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
      }
      entries[key] = Entry(value: value, expires: instant + lifetime)
    }
  }

  /// The answer for `key`: remembered, or asked with `load` and remembered for `lifetime(answer)`.
  public func value(for key: Key, lifetime: (Value) -> Duration, load: () async throws -> Value) async rethrows -> Value {
    if let hit = value(for: key) { return hit }
    let loaded = try await load()
    store(loaded, for: key, lifetime: lifetime(loaded))
    return loaded
  }
}
