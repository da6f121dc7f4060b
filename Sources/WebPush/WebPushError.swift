/// Every failure of the WebPush module that a caller can fix: bad subscription keys, a bad endpoint,
/// a bad VAPID key, a payload too large. The message names the field at fault and what is wrong with it.
public struct WebPushError: Error, Sendable, Equatable, CustomStringConvertible {
  /// What went wrong, for a person: `keys.p256dh does not decode to 65 bytes (got 64)`.
  public var message: String

  public init(_ message: String) {
    self.message = message
  }

  public var description: String { message }
}
