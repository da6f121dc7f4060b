import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import WebPush

@Suite("Sender request building (no network)")
struct WebPushSenderTests {
  static func subscription() throws -> (P256.KeyAgreement.PrivateKey, [UInt8], PushSubscriptionKeys) {
    let userAgent = P256.KeyAgreement.PrivateKey()
    let auth = [UInt8](repeating: 9, count: 16)
    let keys = try PushSubscriptionKeys(p256dh: Base64URL.encode(userAgent.publicKey.x963Representation), auth: Base64URL.encode(auth))
    return (userAgent, auth, keys)
  }

  @Test("The POST carries the RFC 8030 headers, a VAPID token and a body that decrypts")
  func prepare() async throws {
    let (userAgent, auth, keys) = try Self.subscription()
    let vapid = VAPIDKey.generate()
    let sender = try WebPushSender(vapid: vapid, subject: "mailto:ops@courier.test")
    defer { Task { try? await sender.shutdown() } }
    let request = WebPushRequest(
      endpoint: "https://push.test:8443/push/alice",
      keys: keys,
      payload: Array("Your parcel is at the door".utf8),
      ttlSeconds: 600,
      urgency: .high,
      topic: WebPushRequest.topic(forTag: "delivery-7")
    )
    let http = try sender.prepare(request)
    #expect(http.method == .POST)
    #expect(http.url == "https://push.test:8443/push/alice")
    #expect(http.headers.first(name: "TTL") == "600")
    #expect(http.headers.first(name: "Urgency") == "high")
    #expect(http.headers.first(name: "Topic") == WebPushRequest.topic(forTag: "delivery-7"))
    #expect(http.headers.first(name: "Content-Encoding") == "aes128gcm")
    #expect(http.headers.first(name: "Content-Type") == "application/octet-stream")
    let token = try VAPIDKeyTests.verify(try #require(http.headers.first(name: "Authorization")))
    #expect(token.claims["aud"] as? String == "https://push.test:8443")
    #expect(token.key == vapid.publicKeyBase64URL)

    var body: [UInt8] = []
    for try await chunk in try #require(http.body) { body += chunk.readableBytesView }
    #expect(String(decoding: try TestDecryption.decrypt(body, userAgentKey: userAgent, authSecret: auth), as: UTF8.self) == "Your parcel is at the door")
    try await sender.shutdown()
  }

  @Test("Requests that fail local checks are rejected with status 0 before any network use")
  func localRejections() async throws {
    let (_, _, keys) = try Self.subscription()
    let sender = try WebPushSender(vapid: .generate(), subject: "https://courier.test/contact")
    let cases: [(WebPushRequest, String)] = [
      (WebPushRequest(endpoint: "http://push.test/x", keys: keys, payload: []), "endpoint must be an absolute https:// URL"),
      (WebPushRequest(endpoint: "https://push.test/x", keys: keys, payload: [UInt8](repeating: 0, count: 4000)), "payload of 4000 bytes is too large: at most 3993 bytes fit one push message"),
      (WebPushRequest(endpoint: "https://push.test/x", keys: keys, payload: [], ttlSeconds: -1), "TTL must not be negative (got -1)"),
      (WebPushRequest(endpoint: "https://push.test/x", keys: keys, payload: [], topic: "no spaces"), "topic 'no spaces' has characters outside the base64url alphabet; use WebPushRequest.topic(forTag:)"),
    ]
    for (request, reason) in cases {
      #expect(await sender.send(request) == .rejected(status: 0, reason: reason))
    }
    try await sender.shutdown()
  }

  @Test("A closed port is a retry, not a rejection")
  func connectionRefused() async throws {
    let (_, _, keys) = try Self.subscription()
    let sender = try WebPushSender(vapid: .generate(), subject: "mailto:a@b.test", timeout: .seconds(2))
    // Port 1 on loopback: nothing listens there.
    let outcome = await sender.send(WebPushRequest(endpoint: "https://127.0.0.1:1/push/x", keys: keys, payload: [1]))
    guard case .retryLater(let reason, let retryAfter) = outcome else {
      Issue.record("expected retryLater, got \(outcome)")
      try await sender.shutdown()
      return
    }
    #expect(reason.hasPrefix("push service at https://127.0.0.1:1 did not answer"))
    #expect(retryAfter == nil)
    try await sender.shutdown()
  }

  @Test("A bad subject or trust-roots file fails at init with a reason")
  func badInit() {
    #expect(throws: WebPushError.self) { try WebPushSender(vapid: .generate(), subject: "ops@courier.test") }
    let error = #expect(throws: WebPushError.self) {
      try WebPushSender(vapid: .generate(), subject: "mailto:a@b.test", trustRootsPEMFile: "/nonexistent/ca.pem")
    }
    #expect(error?.message.hasPrefix("cannot read trust roots from '/nonexistent/ca.pem'") == true)
  }
}
