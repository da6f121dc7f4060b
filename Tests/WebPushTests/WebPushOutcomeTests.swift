import Foundation
import Testing
import WebPush

@Suite("Outcome classification")
struct WebPushOutcomeTests {
  static let now = Date(timeIntervalSince1970: 784_111_777)

  @Test("2xx is accepted", arguments: [200, 201, 202, 204])
  func accepted(status: Int) {
    #expect(WebPushOutcome.classify(status: status, retryAfter: nil, body: [UInt8]()) == .accepted(status: status))
  }

  @Test("404 and 410 mean the subscription is gone", arguments: [404, 410])
  func gone(status: Int) {
    #expect(WebPushOutcome.classify(status: status, retryAfter: nil, body: Array("expired".utf8)) == .gone(status: status))
  }

  @Test("429 and 5xx are retried, with Retry-After when sent")
  func retry() {
    #expect(
      WebPushOutcome.classify(status: 429, retryAfter: "30", body: Array("slow down".utf8), now: Self.now)
        == .retryLater(reason: "HTTP 429: slow down", retryAfter: .seconds(30))
    )
    #expect(
      WebPushOutcome.classify(status: 503, retryAfter: "Sun, 06 Nov 1994 08:51:37 GMT", body: [UInt8](), now: Self.now)
        == .retryLater(reason: "HTTP 503", retryAfter: .seconds(120))
    )
    #expect(
      WebPushOutcome.classify(status: 500, retryAfter: "whenever", body: [UInt8](), now: Self.now)
        == .retryLater(reason: "HTTP 500", retryAfter: nil)
    )
  }

  @Test("Other 4xx and 3xx are rejected for good", arguments: [400, 401, 403, 413, 301])
  func rejected(status: Int) {
    #expect(
      WebPushOutcome.classify(status: status, retryAfter: "5", body: Array(" bad thing \n".utf8))
        == .rejected(status: status, reason: "HTTP \(status): bad thing")
    )
  }

  @Test("The reason quotes only the first 500 bytes of the body")
  func quotesPrefix() {
    let body = Array(String(repeating: "a", count: 500).utf8) + Array("TAIL".utf8)
    guard case .rejected(_, let reason) = WebPushOutcome.classify(status: 400, retryAfter: nil, body: body) else {
      Issue.record("400 was not rejected")
      return
    }
    #expect(reason == "HTTP 400: " + String(repeating: "a", count: 500))
  }
}
