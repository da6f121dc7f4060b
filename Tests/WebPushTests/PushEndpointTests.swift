import Testing
import WebPush

@Suite("Endpoint validation")
struct PushEndpointTests {
  @Test(
    "Usable endpoints pass",
    arguments: [
      "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
      "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
      "https://127.0.0.1:50123/push/alice",
      "https://[::1]:8443/push/x",
      "https://web.push.apple.com/QGuQyavXutnMH",
    ]
  )
  func valid(endpoint: String) {
    #expect(throws: Never.self) { try WebPushRequest.validateEndpoint(endpoint) }
  }

  @Test(
    "Unusable endpoints fail with a reason",
    arguments: [
      ("", "endpoint is empty"),
      ("http://push.test/x", "endpoint must be an absolute https:// URL"),
      ("/push/x", "endpoint must be an absolute https:// URL"),
      ("https:///x", "endpoint has no host"),
      ("https://user:pw@push.test/x", "endpoint must not contain user information"),
      ("https://push.test:0/x", "endpoint port '0' is not a number in 1...65535"),
      ("https://push.test:99999/x", "endpoint port '99999' is not a number in 1...65535"),
      ("https://push.test/a b", "endpoint contains whitespace, control or non-ASCII characters"),
      ("https://pu_sh.test/x", "endpoint host 'pu_sh.test' contains characters a host name cannot have"),
      ("https://[zz::1]/x", "endpoint host '[zz::1]' contains characters a host name cannot have"),
      ("https://[::1/x", "endpoint has an unterminated IPv6 address"),
      ("https://push.test/" + String(repeating: "a", count: 2048), "endpoint is 2066 characters long; at most 2048 are allowed"),
    ]
  )
  func invalid(endpoint: String, message: String) {
    #expect(throws: WebPushError(message)) { try WebPushRequest.validateEndpoint(endpoint) }
  }

  @Test("The longest accepted endpoint is 2048 characters")
  func limit() {
    let prefix = "https://push.test/"
    let exact = prefix + String(repeating: "a", count: 2048 - prefix.count)
    #expect(throws: Never.self) { try WebPushRequest.validateEndpoint(exact) }
    #expect(throws: WebPushError.self) { try WebPushRequest.validateEndpoint(exact + "a") }
  }
}
