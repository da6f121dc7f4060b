import ContractRuntime
import Foundation
import Generated
import Gateway
import GatewaySample
import Testing

@Suite("server streams as Server-Sent Events (in process)")
struct StreamingTests {
  /// Reads SSE chunks until `count` data events arrived; returns their JSON payloads.
  static func read(
    _ iterator: inout AsyncThrowingStream<[UInt8], any Error>.AsyncIterator,
    events count: Int
  ) async throws -> [String] {
    var events: [String] = []
    while events.count < count, let chunk = try await iterator.next() {
      let text = String(decoding: chunk, as: UTF8.self)
      if text.hasPrefix("data: ") { events.append(String(text.dropFirst(6).dropLast(2))) }
      if text.hasPrefix("event: error") { events.append(text) }
    }
    return events
  }

  @Test("WatchPayloadPositions sends the current state, then each change")
  func watch() async throws {
    let core = try SampleGateway.core()
    let user = [("Authorization", "Bearer user-token"), ("Content-Type", "application/json")] as [(name: String, value: String)]
    let admin = [("Authorization", "Bearer admin-token"), ("Content-Type", "application/json")] as [(name: String, value: String)]
    let subscribe = await core.respond(
      to: GatewayRequest(method: "POST", target: "/tracking/payload/\(SampleStore.inTransitCode)", headers: user, body: Array(#"{"title":"Bike"}"#.utf8))
    )
    #expect(subscribe.status == 200)

    let response = await core.respond(to: GatewayRequest(method: "GET", target: "/tracking/payload/live", headers: user))
    #expect(response.status == 200)
    #expect(response.header("content-type") == "text/event-stream")
    guard case .events(let stream) = response.body else {
      Issue.record("not a stream")
      return
    }
    var iterator = stream.makeAsyncIterator()
    let initial = try await Self.read(&iterator, events: 1)
    #expect(initial.first?.contains("\"payloadTrackingCode\":\"\(SampleStore.inTransitCode)\"") == true)
    #expect(initial.first?.contains("DELIVERY_PAYLOAD_STATUS_IN_TRANSIT") == true)

    let update = await core.respond(
      to: GatewayRequest(
        method: "PUT", target: "/tracking/admin/payloads/22222222-2222-4222-8222-222222222222/status", headers: admin,
        body: Array(#"{"status":"DELIVERY_PAYLOAD_STATUS_DELIVERED"}"#.utf8)
      )
    )
    #expect(update.status == 200)
    let next = try await Self.read(&iterator, events: 1)
    #expect(next.first?.contains("DELIVERY_PAYLOAD_STATUS_DELIVERED") == true)
  }

  @Test("a stream that fails ends with an error event in the error shape")
  func failure() async throws {
    let core = try SampleGateway.core()
    let response = await core.respond(
      to: GatewayRequest(
        method: "GET", target: "/tracking/payload/live?payload_tracking_codes=\(SampleStore.registeredCode)",
        headers: [("Authorization", "Bearer user-token")]
      )
    )
    guard case .events(let stream) = response.body else {
      Issue.record("not a stream")
      return
    }
    var chunks: [String] = []
    for try await chunk in stream { chunks.append(String(decoding: chunk, as: UTF8.self)) }
    #expect(chunks.last?.hasPrefix("event: error\ndata: {\"code\":\"NOT_FOUND\"") == true, "\(chunks)")
  }

  @Test("a slow reader overflows the bounded buffer and the writer is told")
  func overflow() async throws {
    // The writer runs to its end before the test reads anything, so the outcome does not depend on
    // scheduling: two messages fit, the third write throws, and the stream ends with that error.
    let (done, signal) = AsyncStream.makeStream(of: Int.self)
    let stream = RESTEventSink.stream(limit: 2) { sink in
      var written = 0
      defer {
        signal.yield(written)
        signal.finish()
      }
      for index in 0..<10 {
        var message = Courier_Common_V1_PageInfo()
        message.totalSize = Int64(index)
        try sink.write(message)
        written += 1
      }
    }
    var signals = done.makeAsyncIterator()
    #expect(await signals.next() == 2)
    var chunks = 0
    await #expect(throws: RESTStreamOverflowError.self) {
      for try await _ in stream { chunks += 1 }
    }
    #expect(chunks == 2)
  }
}
