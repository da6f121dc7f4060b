public import Foundation

/// The `Retry-After` header (RFC 9110 section 10.2.3): delta-seconds or an HTTP date.
public enum RetryAfter {
  /// The longest wait taken from a header; larger values are capped to it.
  public static let maximum: Duration = .seconds(24 * 3600)

  /// The wait that `value` asks for, measured from `now` when it is a date; `nil` if it is neither
  /// form. A date in the past gives zero; waits beyond ``maximum`` are capped.
  public static func parse(_ value: String, now: Date = Date()) -> Duration? {
    let text = value.trimmingCharacters(in: .whitespaces)
    if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
      guard let seconds = Int64(text) else { return maximum }
      return min(.seconds(seconds), maximum)
    }
    guard let date = httpDate(text) else { return nil }
    let seconds = max(0, date - Int64(now.timeIntervalSince1970.rounded(.down)))
    return min(.seconds(seconds), maximum)
  }

  private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

  /// Seconds since 1970 of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
  static func httpDate(_ text: String) -> Int64? {
    let parts = text.split(separator: " ")
    guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), parts[5] == "GMT",
      let day = Int(parts[1]), parts[1].count == 2, (1...31).contains(day),
      let monthIndex = months.firstIndex(of: String(parts[2])),
      parts[3].count == 4, let year = Int(parts[3])
    else { return nil }
    let clock = parts[4].split(separator: ":")
    guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
      let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
      hour < 24, minute < 60, second < 61
    else { return nil }
    let days = daysSinceEpoch(year: year, month: monthIndex + 1, day: day)
    return Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second)
  }

  /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil).
  private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146097 + dayOfEra - 719468
  }
}
