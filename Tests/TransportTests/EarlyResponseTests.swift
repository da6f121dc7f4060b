import GRPCCore
import Synchronization
import NIOCore
import Testing
@testable import Transport

/// A response that is complete before the request is (PROTOCOL-HTTP2.md: the server sends its
/// trailers, then RST_STREAM with NO_ERROR so that the client stops sending).
@Suite("Responses that end before the request", .timeLimit(.minutes(1)))
struct EarlyResponseTests {
  typealias Raw = RawHTTP2Connection

  @Test("our server: trailers, then RST_STREAM(NO_ERROR) when the client has not half-closed")
  func serverResetsAfterFullResponse() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await Raw.with(port: port) { raw in
        let id = raw.openStream(headers: Raw.grpcHeaders(path: "/probe.Probe/Fail"))
        // NOT_FOUND "no", and the request stays open: no END_STREAM.
        raw.sendData(id, [0, 0, 0, 0, 3, 5, 0x6E, 0x6F])
        try await raw.flush()
        let events = try await raw.read(until: { Raw.closed($0, stream: id) != nil })
        #expect(Raw.value("grpc-status", in: Raw.headers(events, stream: id)) == "5")
        #expect(Raw.value("grpc-message", in: Raw.headers(events, stream: id)) == "no")
        // We never ended our side, so only the server's RST_STREAM can have closed the stream,
        // and its code is NO_ERROR.
        #expect(Raw.closed(events, stream: id) == HTTP2ErrorCode.noError)
        await raw.close()
      }
    }
  }

  @Test("our client reports the server's status when the server ends the call while the client still sends")
  func clientReportsStatusAfterReset() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        let writes = WriteCounter()
        let error = await #expect(throws: RPCError.self) {
          try await client.clientStreaming(
            request: StreamingClientRequest(of: [UInt8].self) { writer in
              try await writer.write([5] + Array("gone away".utf8))
              // Far more than the flow control windows hold: the writer is still sending when
              // the server's status and RST_STREAM(NO_ERROR) arrive.
              for _ in 0..<100_000 {
                try await writer.write([UInt8](repeating: 0, count: 1024))
                writes.add()
              }
            },
            descriptor: ProbeService.fail,
            serializer: BytesSerializer(),
            deserializer: BytesSerializer(),
            options: .defaults
          ) { try $0.message }
        }
        #expect(error?.code == .notFound)
        #expect(error?.message == "gone away")
        #expect(writes.count < 100_000)
      }
    }
  }
}

final class WriteCounter: Sendable {
  private let value = Atomic<Int>(0)
  func add() { self.value.add(1, ordering: .relaxed) }
  var count: Int { self.value.load(ordering: .relaxed) }
}
