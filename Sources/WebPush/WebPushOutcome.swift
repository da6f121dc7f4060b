public import Foundation

/// What became of one push request, as the caller must act on it.
public enum WebPushOutcome: Sendable, Equatable {
  /// The push service took the message (201, or another 2xx).
  case accepted(status: Int)
  /// The subscription no longer exists (404, 410): remove it.
  case gone(status: Int)
  /// Try again later (429, 5xx, a connection error or a time-out); `retryAfter` is the push
  /// service's `Retry-After` when it sent one.
  case retryLater(reason: String, retryAfter: Duration?)
  /// The push service refused this request for good (400, 403, 413 and other 4xx; a 3xx; or a request
  /// that failed local checks, with status 0). `reason` has the status and the start of the body.
  case rejected(status: Int, reason: String)

  /// How many bytes of a response body a reason quotes.
  public static let quotedBodyLimit = 500

  /// Classifies a push service's answer.
  ///
  /// - Parameters:
  ///   - status: the HTTP status.
  ///   - retryAfter: the `Retry-After` header, if any (delta-seconds or an HTTP date).
  ///   - body: the response body; only its first ``quotedBodyLimit`` bytes are quoted.
  ///   - now: the time an HTTP date in `retryAfter` is measured from.
  public static func classify(status: Int, retryAfter: String?, body: some Collection<UInt8>, now: Date = Date()) -> WebPushOutcome {
    switch status {
    case 200..<300:
      return .accepted(status: status)
    case 404, 410:
      return .gone(status: status)
    case 429, 500..<600:
      return .retryLater(
        reason: reason(status: status, body: body),
        retryAfter: retryAfter.flatMap { RetryAfter.parse($0, now: now) }
      )
    default:
      return .rejected(status: status, reason: reason(status: status, body: body))
    }
  }

  /// `HTTP 403: <first 500 bytes of the body>`, or `HTTP 403` for an empty body.
  static func reason(status: Int, body: some Collection<UInt8>) -> String {
    let quoted = String(decoding: body.prefix(quotedBodyLimit), as: UTF8.self)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    return quoted.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(quoted)"
  }
}
