import Synchronization

/// Answers remembered for a while, shared by the callers that ask a remote service the same
/// question in bursts (token checks, user look-ups). Each entry has its own lifetime. At most
/// `capacity` entries are kept: when full, expired ones go first, then everything (a burst of new
/// keys costs a refill, never unbounded memory). Errors are the caller's business: only answers
/// are stored.
///
/// An entry may also be kept for a grace period after its lifetime
/// (``value(for:lifetime:grace:load:)``): during it the old answer is still given, while one
/// background load replaces it. A steady stream of callers then never waits for the remote service.
public final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
  private struct Entry {
    var value: Value
    /// Fresh until then.
    var expires: ContinuousClock.Instant
    /// Given (while being replaced) until then; `expires` for entries without a grace period.
    var usableUntil: ContinuousClock.Instant
    /// A background load is replacing the entry.
    var refreshing = false
  }

  private enum Lookup {
    case fresh(Value)
    /// Past its lifetime, within its grace: give it; `refresh` says whether this caller starts the
    /// background load.
    case stale(Value, refresh: Bool)
    case missing
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

  /// Remembers `value` for `key` during `lifetime` from now, and as a stale answer for `grace`
  /// after that.
  public func store(_ value: Value, for key: Key, lifetime: Duration, grace: Duration = .zero) {
    let instant = now()
    entries.withLock { entries in
      if entries[key] == nil, entries.count >= capacity {
        entries = entries.filter { $0.value.usableUntil > instant }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
      }
      let expires = instant + lifetime
      entries[key] = Entry(value: value, expires: expires, usableUntil: expires + max(grace, .zero))
    }
  }

  /// The answer for `key`: remembered, or asked with `load` and remembered for `lifetime(answer)`.
  public func value(for key: Key, lifetime: (Value) -> Duration, load: () async throws -> Value) async rethrows -> Value {
    if let hit = value(for: key) { return hit }
    let loaded = try await load()
    store(loaded, for: key, lifetime: lifetime(loaded))
    return loaded
  }

  /// The answer for `key`, refreshed ahead of need. A fresh answer is given as it is. One past its
  /// lifetime but within `grace` is given too, and the first such caller starts one background
  /// `load` that replaces it (should that load fail, the old answer serves on until its grace
  /// runs out, and the next caller tries again). Without a usable answer, the caller waits for
  /// `load` and its error is thrown.
  public func value(
    for key: Key, lifetime: @escaping @Sendable (Value) -> Duration, grace: Duration,
    load: @escaping @Sendable () async throws -> Value
  ) async throws -> Value {
    let instant = now()
    let lookup: Lookup = entries.withLock { entries in
      guard var entry = entries[key], entry.usableUntil > instant else { return .missing }
      if entry.expires > instant { return .fresh(entry.value) }
      let refresh = !entry.refreshing
      if refresh {
        entry.refreshing = true
        entries[key] = entry
      }
      return .stale(entry.value, refresh: refresh)
    }
    switch lookup {
    case .fresh(let value):
      return value
    case .stale(let value, let refresh):
      if refresh {
        Task {
          do {
            let loaded = try await load()
            self.store(loaded, for: key, lifetime: lifetime(loaded), grace: grace)
          } catch {
            self.entries.withLock { entries in entries[key]?.refreshing = false }
          }
        }
      }
      return value
    case .missing:
      let loaded = try await load()
      store(loaded, for: key, lifetime: lifetime(loaded), grace: grace)
      return loaded
    }
  }
}
