import Foundation
import Generated
import GRPCCore
@testable import Iris
import Testing

@Suite("Iris without I/O")
struct IrisUnitTests {
  @Test("a delivery-log page token comes back only with the filters that made it")
  func pageTokenRoundTrip() throws {
    let filter = DeliveryFilter(channel: .mail, status: .failed, userID: UUID())
    let cursor = (Date(timeIntervalSince1970: 1_800_000_000.123456), UUID())
    let token = PageToken.encode(cursor, filter: filter)
    let decoded = try #require(try PageToken.decode(token, filter: filter))
    #expect(decoded.1 == cursor.1)
    #expect(abs(decoded.0.timeIntervalSince1970 - cursor.0.timeIntervalSince1970) < 0.000_001)
    #expect(try PageToken.decode("", filter: filter) == nil)

    var other = filter
    other.status = .sent
    #expect(throws: RPCError.self) { try PageToken.decode(token, filter: other) }
    #expect(throws: RPCError.self) { try PageToken.decode("not a token!", filter: filter) }
    #expect(throws: RPCError.self) { try PageToken.decodeOffset(token) }
    #expect(try PageToken.decodeOffset(PageToken.encodeOffset(40)) == 40)
  }

  @Test("retries back off exponentially with jitter, up to the ceiling")
  func backoff() {
    let policy = RetryPolicy(baseDelay: .seconds(5), maxDelay: .seconds(60), maxAttempts: 8, lease: .seconds(120))
    for attempt in 1...10 {
      let delay = policy.delay(afterAttempt: attempt).seconds
      let nominal = min(5 * pow(2, Double(attempt - 1)), 60)
      #expect(delay >= nominal * 0.8 - 0.001 && delay <= nominal + 0.001, "attempt \(attempt): \(delay) s")
    }
  }

  @Test("the push message is the JSON object the service worker reads")
  func pushPayload() throws {
    var request = Courier_Iris_V1_SendPushNotificationRequest()
    request.title = "Parcel \"7K3M\" is near"
    request.body = "Dana is 2 km away\n\u{1}é 🚚 \\ end"
    request.url = "/app/track/7K3M9QX2T4VA"
    request.tag = "payload:7K3M9QX2T4VA"
    let id = UUID()
    let json = NotificationService.payloadJSON(id: id, request: request)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
    #expect(object == [
      "notificationId": id.text, "title": request.title, "body": request.body, "url": request.url, "tag": request.tag,
    ])
  }

  @Test("shared input rules name the field", arguments: [
    ("", "idempotency_key is required"),
    (String(repeating: "k", count: 201), "idempotency_key has 201 characters; the most is 200"),
  ])
  func idempotencyKeys(key: String, message: String) {
    #expect {
      _ = try Check.idempotencyKey(key)
    } throws: { error in
      (error as? RPCError)?.code == .invalidArgument && (error as? RPCError)?.message.hasPrefix(message) == true
    }
  }

  @Test("ids must be UUIDs")
  func uuids() throws {
    #expect(try Check.uuid("3F2C1A9E-5B7D-4E8F-9A0B-1C2D3E4F5A6B", field: "user_id").text == "3f2c1a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")
    #expect(throws: RPCError.self) { try Check.uuid("42", field: "user_id") }
    #expect(try Check.optionalUUID("", field: "user_id") == nil)
  }
}
