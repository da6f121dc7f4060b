/// What a consumer does with an event, decided without I/O.
///
/// A consumer group's state for one event is `nil` (never seen), ``Status/failed`` (some attempts
/// failed, may be retried), ``Status/processed`` or ``Status/dead`` (given up on; only an operator's
/// replay brings it back). Processing an event claims it in the same transaction as the handler's
/// writes, so a redelivered event that is processed or dead is skipped.
public struct DeliveryPolicy: Sendable, Hashable {
  /// A consumer group's stored state for one event (`event_source.deliveries.status`).
  public enum Status: String, Sendable, Hashable {
    case processed, failed, dead
  }

  /// What to do after a handler failure.
  public enum AfterFailure: Sendable, Hashable {
    /// Try again after waiting this long.
    case retry(after: Duration)
    /// Give up: record the event as dead with its error and move on.
    case deadLetter
  }

  /// Attempts before an event is dead-lettered (at least 1).
  public var maxAttempts: Int
  /// Wait after the first failure; doubled after each further one up to `maxBackoff`.
  public var initialBackoff: Duration
  public var maxBackoff: Duration

  public init(maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(10)) {
    self.maxAttempts = max(1, maxAttempts)
    self.initialBackoff = initialBackoff
    self.maxBackoff = max(initialBackoff, maxBackoff)
  }

  public static var defaults: Self { Self() }

  /// Whether a delivered event should reach the handler, given the group's stored state.
  public func shouldHandle(stored: Status?) -> Bool {
    switch stored {
    case nil, .failed: true
    case .processed, .dead: false
    }
  }

  /// The decision after the `attempts`-th failed attempt (counted over restarts, from the store).
  public func afterFailure(attempts: Int) -> AfterFailure {
    if attempts >= maxAttempts { return .deadLetter }
    return .retry(after: backoff(afterAttempt: attempts))
  }

  /// Exponential backoff without jitter: initial, 2x, 4x ... capped.
  public func backoff(afterAttempt attempt: Int) -> Duration {
    var wait = initialBackoff
    var step = 1
    while step < attempt && wait < maxBackoff {
      wait = wait * 2
      step += 1
    }
    return min(wait, maxBackoff)
  }
}
