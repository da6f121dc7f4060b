import Foundation
import Testing
import WebPush

@Suite("Retry-After parsing")
struct RetryAfterTests {
  // Sun, 06 Nov 1994 08:49:37 GMT
  static let now = Date(timeIntervalSince1970: 784_111_777)

  @Test(
    "Delta-seconds and HTTP dates",
    arguments: [
      ("120", Duration.seconds(120)),
      (" 0 ", .seconds(0)),
      ("Sun, 06 Nov 1994 08:50:07 GMT", .seconds(30)),
      ("Mon, 07 Nov 1994 08:49:37 GMT", .seconds(86400)),
      ("Sun, 06 Nov 1994 08:00:00 GMT", .seconds(0)),
      ("Tue, 01 Mar 2000 00:00:00 GMT", .seconds(24 * 3600)),
      ("999999999999999999999999", .seconds(24 * 3600)),
    ]
  )
  func parses(value: String, expected: Duration) {
    #expect(RetryAfter.parse(value, now: Self.now) == expected)
  }

  @Test("Leap years and month boundaries give the right epoch seconds")
  func calendar() {
    let leapDay = Date(timeIntervalSince1970: 951_782_400)  // 2000-02-29T00:00:00Z
    #expect(RetryAfter.parse("Wed, 01 Mar 2000 00:00:00 GMT", now: leapDay) == .seconds(86400))
    let newYear = Date(timeIntervalSince1970: 1_767_225_599)  // 2025-12-31T23:59:59Z
    #expect(RetryAfter.parse("Thu, 01 Jan 2026 00:00:09 GMT", now: newYear) == .seconds(10))
  }

  @Test("Garbage gives nil", arguments: ["", "soon", "-5", "1.5", "Sun, 06 Nov 1994 08:49:37 PST", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:00:00 GMT"])
  func garbage(value: String) {
    #expect(RetryAfter.parse(value, now: Self.now) == nil)
  }
}
