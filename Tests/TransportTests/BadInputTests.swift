import GRPCCore
import NIOCore
import Testing
@testable import Transport

/// Peers that break the protocol: each test says what the peer gets, then checks that the server
/// still serves a normal call.
@Suite("Bad input")
struct BadInputTests {
  typealias Raw = RawHTTP2Connection

  /// Sends one request on a fresh raw connection and reads until its stream closes.
  func exchange(
    port: Int,
    headers: HTTP2Headers? = nil,
    data: [UInt8]? = nil
  ) async throws -> [NGHTTP2Session.Event] {
    try await Raw.exchange(port: port, headers: headers, data: data ?? [])
  }

  func stillServes(_ port: Int) async throws {
    let echoed = try await echoRoundTrip(port: port, [42])
    #expect(echoed == [42])
  }

  @Test("garbage instead of the HTTP/2 preface: the connection is closed")
  func garbagePreface() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await Raw.with(port: port) { raw in
        try await raw.sendRaw(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        try await raw.readUntilClosed()
        #expect(raw.isClosed)
      }
      try await self.stillServes(port)
    }
  }

  @Test("a non-gRPC content-type gets HTTP 415")
  func wrongContentType() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      var headers = Raw.grpcHeaders.filter { $0.name != "content-type" }
      headers.append(("content-type", "application/json"))
      let events = try await self.exchange(port: port, headers: headers, data: Array("{}".utf8))
      let blocks = Raw.headers(events, stream: 1)
      #expect(Raw.value(":status", in: blocks) == "415")
      try await self.stillServes(port)
    }
  }

  @Test("a length prefix longer than the data that follows (truncated message): INTERNAL")
  func truncatedMessage() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      let events = try await self.exchange(port: port, data: [0, 0, 0, 0, 10, 1, 2, 3])
      #expect(Raw.value("grpc-status", in: Raw.headers(events, stream: 1)) == "13")
      try await self.stillServes(port)
    }
  }

  @Test("a 4 GiB length prefix: RESOURCE_EXHAUSTED without waiting for the payload")
  func oversizedPrefix() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await Raw.with(port: port) { raw in
        let id = raw.openStream()
        raw.sendData(id, [0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])  // stream stays open
        try await raw.flush()
        let events = try await raw.read(until: { Raw.value("grpc-status", in: Raw.headers($0, stream: id)) != nil })
        #expect(Raw.value("grpc-status", in: Raw.headers(events, stream: id)) == "8")
        await raw.close()
      }
      try await self.stillServes(port)
    }
  }

  @Test("a message over the limit: RESOURCE_EXHAUSTED")
  func messageOverLimit() async throws {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.rpc.maxRequestPayloadSize = 16
    try await withTestServer(services: [ProbeService()], config: config) { _, port in
      let events = try await self.exchange(port: port, data: [0, 0, 0, 0, 17] + [UInt8](repeating: 1, count: 17))
      #expect(Raw.value("grpc-status", in: Raw.headers(events, stream: 1)) == "8")
      try await self.stillServes(port)
    }
  }

  @Test("a malformed grpc-timeout: Trailers-Only INTERNAL")
  func malformedTimeout() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      let headers = Raw.grpcHeaders + [("grpc-timeout", "forever")]
      let events = try await self.exchange(port: port, headers: headers, data: [0, 0, 0, 0, 0])
      let blocks = Raw.headers(events, stream: 1)
      #expect(blocks.count == 1)
      #expect(Raw.value("grpc-status", in: blocks) == "13")
      try await self.stillServes(port)
    }
  }

  @Test("a compressed message with an encoding the server does not offer: UNIMPLEMENTED")
  func unsupportedEncoding() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      let headers = Raw.grpcHeaders + [("grpc-encoding", "br")]
      let events = try await self.exchange(port: port, headers: headers, data: [1, 0, 0, 0, 1, 9])
      let blocks = Raw.headers(events, stream: 1)
      #expect(Raw.value("grpc-status", in: blocks) == "12")
      #expect(Raw.value("grpc-accept-encoding", in: blocks) == "gzip,deflate,identity")
      try await self.stillServes(port)
    }
  }

  @Test("a flood of headers beyond the header list limit: the stream is reset")
  func headerFlood() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      // About 40 KiB: over the server's 16 KiB header list limit, under nghttp2's 64 KiB send cap.
      let flood = (0..<800).map { (name: "x-flood-\($0)", value: "0123456789") }
      let events = try await self.exchange(port: port, headers: Raw.grpcHeaders + flood, data: [0, 0, 0, 0, 0])
      let code = Raw.closed(events, stream: 1)
      #expect(code != nil && code != 0)
      #expect(Raw.headers(events, stream: 1).isEmpty)
      try await self.stillServes(port)
    }
  }

  @Test("streams beyond the concurrency cap are refused (REFUSED_STREAM)")
  func streamFlood() async throws {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.http2.maxConcurrentStreams = 4
    try await withTestServer(services: [ProbeService()], config: config) { _, port in
      try await Raw.with(port: port) { raw in
        let hold = Raw.grpcHeaders(path: "/probe.Probe/Hold")
        // Sent before the server's SETTINGS are read, so nghttp2 does not hold them back for us.
        let ids = (0..<12).map { _ in raw.openStream(headers: hold) }
        try await raw.flush()
        let events = try await raw.read(until: { events in
          ids.filter { Raw.closed(events, stream: $0) == HTTP2ErrorCode.refusedStream }.count == 8
        })
        #expect(ids.filter { Raw.closed(events, stream: $0) == HTTP2ErrorCode.refusedStream }.count == 8)
        await raw.close()
      }
      try await self.stillServes(port)
    }
  }

  @Test("a client that opens a stream and never reads gets no more than its flow control window")
  func neverReads() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await Raw.with(port: port) { raw in
        let flood = Raw.grpcHeaders(path: "/probe.Probe/Flood")
        let id = raw.openStream(headers: flood)
        raw.sendData(id, [0, 0, 0, 0, 8] + floodRequest(count: 512, size: 65_536), end: true)
        try await raw.flush()
        // Read until the server has filled the 65,535-byte window it was given.
        let events = try await raw.read(until: { Raw.dataBytes($0, stream: id) >= 65_535 })
        #expect(Raw.dataBytes(events, stream: id) == 65_535)
        // Meanwhile the server serves others; then a PING round trip shows the stuck stream got
        // nothing more.
        try await self.stillServes(port)
        raw.session.submitPing()
        try await raw.flush()
        let after = try await raw.read(until: { $0.contains { if case .pingAck = $0 { true } else { false } } })
        #expect(Raw.dataBytes(after, stream: id) == 65_535)
        await raw.close()
      }
      try await self.stillServes(port)
    }
  }

  @Test("a peer that vanishes mid-stream: the handler is cancelled, the server keeps serving")
  func peerVanishes() async throws {
    let log = CancellationLog()
    try await withTestServer(services: [ProbeService(log: log)]) { _, port in
      try await Raw.with(port: port) { raw in
        let hold = Raw.grpcHeaders(path: "/probe.Probe/Hold", extra: [("probe-id", "vanish")])
        let id = raw.openStream(headers: hold)
        raw.sendData(id, [0, 0, 0, 0, 0])
        try await raw.flush()
        // The handler is running once its first message arrives.
        try await raw.read(until: { Raw.dataBytes($0, stream: id) > 0 })
        await raw.close()
        var iterator = log.events.makeAsyncIterator()
        #expect(await iterator.next() == "cancelled vanish")
      }
      try await self.stillServes(port)
    }
  }
}
