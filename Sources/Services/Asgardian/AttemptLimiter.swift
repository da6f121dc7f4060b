public import Foundation
import Synchronization

/// Counts events (failed logins, sign-ups, recovery requests) per key in a sliding window and says
/// when a key has had too many.
///
/// **In memory, per process.** Each Asgardian replica counts on its own, so with N replicas behind a
/// load balancer a client may get up to N times the limit before every replica refuses it, and a
/// restart forgets the counts. That is enough to blunt password guessing at one account or from
/// one address; a shared store (Postgres or Redis) would make it exact across replicas.
///
/// Memory is bounded: at most `capacity` keys are tracked; when full, keys whose events have all
/// left the window are dropped first, then the whole table.
public final class AttemptLimiter: Sendable {
  /// How many events a key may have within `window` before ``check(_:now:)`` refuses it.
  public let limit: Int
  public let window: Duration
  private let capacity: Int
  private let events = Mutex<[String: [Date]]>([:])

  public init(limit: Int, window: Duration, capacity: Int = 100_000) {
    precondition(limit > 0, "limit must be positive")
    self.limit = limit
    self.window = window
    self.capacity = capacity
  }

  /// Nil when `key` may go on; else how long until its oldest counted event leaves the window.
  public func check(_ key: String, now: Date) -> Duration? {
    let cutoff = now.addingTimeInterval(-seconds)
    return events.withLock { table -> Duration? in
      guard var times = table[key] else { return nil }
      times.removeAll { $0 <= cutoff }
      table[key] = times.isEmpty ? nil : times
      guard times.count >= limit, let oldest = times.first else { return nil }
      let wait = oldest.timeIntervalSince(cutoff)
      return .milliseconds(Int64((wait * 1000).rounded(.up)))
    }
  }

  /// Counts one event for `key` at `now`.
  public func record(_ key: String, now: Date) {
    let cutoff = now.addingTimeInterval(-seconds)
    events.withLock { table in
      if table[key] == nil && table.count >= capacity {
        table = table.filter { $0.value.last.map { $0 > cutoff } ?? false }
        if table.count >= capacity { table.removeAll(keepingCapacity: true) }
      }
      var times = table[key] ?? []
      times.removeAll { $0 <= cutoff }
      times.append(now)
      table[key] = times
    }
  }

  /// Forgets `key`'s events (a successful login clears its account's failures).
  public func reset(_ key: String) {
    _ = events.withLock { $0.removeValue(forKey: key) }
  }

  private var seconds: TimeInterval {
    let parts = window.components
    return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
  }
}
