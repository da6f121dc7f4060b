import NIOCore
import NIOPosix
@testable import Transport

/// A deliberately misbehaving HTTP/2 peer for bad-input tests: nghttp2 (client role) encodes what
/// we choose to send, including what a well-behaved gRPC client never would, and decodes what the
/// server answers. Flow control windows open only when the test says so.
final class RawHTTP2Connection {
  let session: NGHTTP2Session
  private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
  private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
  private let channel: any Channel
  /// Everything the server did so far.
  private(set) var events: [NGHTTP2Session.Event] = []
  private(set) var isClosed = false

  private init(
    channel: any Channel,
    inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
    outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
    autoPingAck: Bool
  ) {
    self.channel = channel
    self.session = NGHTTP2Session(
      role: .client,
      settings: .init(maxConcurrentStreams: 0, initialWindowSize: 65_535, maxHeaderListSize: 1 << 20),
      allocator: ByteBufferAllocator(),
      autoPingAck: autoPingAck
    )
    self.inbound = inbound.makeAsyncIterator()
    self.outbound = outbound
  }

  /// Connects to the server on `port` and runs `body` with the connection; closes it afterwards.
  /// With `autoPingAck` false the peer never answers the server's PINGs.
  static func with<R>(
    port: Int,
    autoPingAck: Bool = true,
    _ body: (RawHTTP2Connection) async throws -> R
  ) async throws -> R {
    let asyncChannel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        }
      }
    let channel = asyncChannel.channel
    return try await asyncChannel.executeThenClose { inbound, outbound in
      try await body(
        RawHTTP2Connection(channel: channel, inbound: inbound, outbound: outbound, autoPingAck: autoPingAck)
      )
    }
  }

  /// Sends one request with END_STREAM on a fresh connection (gRPC headers by default) and reads
  /// until its stream closes.
  static func exchange(port: Int, headers: HTTP2Headers? = nil, data: [UInt8]) async throws -> [NGHTTP2Session.Event] {
    try await Self.with(port: port) { raw in
      let id = raw.openStream(headers: headers)
      raw.sendData(id, data, end: true)
      try await raw.flush()
      return try await raw.read(until: { Self.closed($0, stream: id) != nil })
    }
  }

  static let grpcHeaders: HTTP2Headers = RawHTTP2Connection.grpcHeaders(path: "/probe.Probe/Echo")

  /// A well-formed gRPC request header block for `path` (pseudo-headers first), plus `extra`.
  static func grpcHeaders(path: String, extra: HTTP2Headers = []) -> HTTP2Headers {
    [
      (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
      ("content-type", "application/grpc"), ("te", "trailers"),
    ] + extra
  }

  /// Opens a stream with `headers` (gRPC defaults when nil).
  func openStream(headers: HTTP2Headers? = nil) -> Int32 {
    self.session.submitRequest(headers: headers ?? Self.grpcHeaders)!
  }

  /// Queues DATA payload bytes (raw: any length prefix the test wants), optionally ending the stream.
  func sendData(_ streamID: Int32, _ bytes: [UInt8], end: Bool = false) {
    guard let data = self.session.outboundData(streamID: streamID) else { return }
    data.buffer.writeBytes(bytes)
    data.endStream = end
    self.session.resume(streamID: streamID)
  }

  /// Writes raw bytes, bypassing HTTP/2 entirely.
  func sendRaw(_ bytes: [UInt8]) async throws {
    try await self.outbound.write(ByteBuffer(bytes: bytes))
  }

  /// Writes whatever nghttp2 has queued.
  func flush() async throws {
    var buffer = ByteBuffer()
    try self.session.produceOutput(into: &buffer)
    self.events += self.session.takeEvents()
    if buffer.readableBytes > 0 { try await self.outbound.write(buffer) }
  }

  /// Reads until `done` holds for the events so far, or the server closes the connection.
  @discardableResult
  func read(until done: ([NGHTTP2Session.Event]) -> Bool) async throws -> [NGHTTP2Session.Event] {
    while !done(self.events) {
      guard let bytes = try await self.inbound.next() else {
        self.isClosed = true
        return self.events
      }
      do {
        try self.session.receive(bytes)
      } catch {
        self.isClosed = true
        return self.events
      }
      self.events += self.session.takeEvents()
      // The server may already have closed the connection (after garbage, say).
      try? await self.flush()
      self.events += self.session.takeEvents()
    }
    return self.events
  }

  /// Reads until the server closes the connection.
  func readUntilClosed() async throws {
    try await self.read(until: { _ in false })
  }

  /// Drops the TCP connection at once.
  func close() async {
    try? await self.channel.close()
  }

  // MARK: Event helpers

  static func headers(_ events: [NGHTTP2Session.Event], stream: Int32) -> [HTTP2Headers] {
    events.compactMap {
      if case .headers(stream, let headers, _) = $0 { return headers }
      return nil
    }
  }

  static func value(_ name: String, in blocks: [HTTP2Headers]) -> String? {
    for block in blocks { if let field = block.first(where: { $0.name == name }) { return field.value } }
    return nil
  }

  static func closed(_ events: [NGHTTP2Session.Event], stream: Int32) -> UInt32? {
    for event in events { if case .streamClosed(stream, let code) = event { return code } }
    return nil
  }

  static func count(_ events: [NGHTTP2Session.Event], where matches: (NGHTTP2Session.Event) -> Bool) -> Int {
    events.reduce(0) { matches($1) ? $0 + 1 : $0 }
  }

  static func pings(_ events: [NGHTTP2Session.Event]) -> Int {
    Self.count(events) { if case .ping = $0 { true } else { false } }
  }

  /// ACKs of the PINGs this peer sent.
  static func pingAcks(_ events: [NGHTTP2Session.Event]) -> Int {
    Self.count(events) { if case .pingAck = $0 { true } else { false } }
  }

  static func goAways(_ events: [NGHTTP2Session.Event]) -> Int {
    Self.count(events) { if case .goAway = $0 { true } else { false } }
  }

  /// A stream's DATA payload, all frames together.
  static func payload(_ events: [NGHTTP2Session.Event], stream: Int32) -> [UInt8] {
    events.flatMap {
      if case .data(stream, let bytes) = $0 { return Array(bytes.readableBytesView) }
      return []
    }
  }

  static func dataBytes(_ events: [NGHTTP2Session.Event], stream: Int32) -> Int {
    events.reduce(0) {
      if case .data(stream, let bytes) = $1 { return $0 + bytes.readableBytes }
      return $0
    }
  }
}
