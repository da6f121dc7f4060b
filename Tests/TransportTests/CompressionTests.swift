import GRPCCore
import NIOCore
import Testing
@testable import Transport

@Suite("gzip and deflate codecs")
struct MessageEncodingTests {
  // "hello gRPC" as Python's gzip.compress(mtime=0) and zlib.compress write it.
  static let gzipHello: [UInt8] = [
    31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 87, 72, 15, 10, 112, 6, 0, 237, 145, 216, 88, 10, 0, 0, 0,
  ]
  static let deflateHello: [UInt8] = [120, 156, 203, 72, 205, 201, 201, 87, 72, 15, 10, 112, 6, 0, 20, 170, 3, 129]

  @Test("data compressed by another implementation decompresses")
  func knownVectors() throws {
    #expect(try MessageEncoding.gzip.decompress(Self.gzipHello, limit: 100) == Array("hello gRPC".utf8))
    #expect(try MessageEncoding.deflate.decompress(Self.deflateHello, limit: 100) == Array("hello gRPC".utf8))
  }

  @Test("round trips", arguments: MessageEncoding.allCases, [0, 1, 1000, 300_000])
  func roundTrip(encoding: MessageEncoding, size: Int) throws {
    let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 * 31 / 7) }
    let compressed = encoding.compress(message)
    #expect(try encoding.decompress(compressed, limit: size) == message)
  }

  @Test("the limit is exact: limit bytes pass, one more is tooLarge")
  func exactLimit() throws {
    let compressed = MessageEncoding.gzip.compress([UInt8](repeating: 1, count: 4096))
    #expect(try MessageEncoding.gzip.decompress(compressed, limit: 4096).count == 4096)
    #expect(throws: MessageEncoding.Error.tooLarge(limit: 4095)) {
      try MessageEncoding.gzip.decompress(compressed, limit: 4095)
    }
  }

  @Test("a decompression bomb stops at the limit")
  func bomb() throws {
    // 16 MiB of zeros is about 16 KiB of gzip.
    let compressed = MessageEncoding.gzip.compress([UInt8](repeating: 0, count: 16 << 20))
    #expect(compressed.count < 32_000)
    #expect(throws: MessageEncoding.Error.tooLarge(limit: 1 << 20)) {
      try MessageEncoding.gzip.decompress(compressed, limit: 1 << 20)
    }
  }

  @Test("garbage and truncated data are corrupt")
  func corrupt() {
    #expect(throws: MessageEncoding.Error.self) { try MessageEncoding.gzip.decompress([1, 2, 3, 4, 5], limit: 100) }
    #expect(throws: MessageEncoding.Error.self) {
      try MessageEncoding.gzip.decompress(Array(Self.gzipHello.prefix(15)), limit: 100)
    }
    #expect(throws: MessageEncoding.Error.self) { try MessageEncoding.deflate.decompress([], limit: 100) }
  }
}

@Suite("Message compression on the wire", .timeLimit(.minutes(1)))
struct CompressionTests {
  typealias Raw = RawHTTP2Connection
  static let bytes = BytesSerializer()

  let gzipHeaders: HTTP2Headers = Raw.grpcHeaders + [("grpc-encoding", "gzip")]

  /// A gRPC frame with the compressed flag set.
  func compressedFrame(_ payload: [UInt8]) -> [UInt8] {
    let length = UInt32(payload.count)
    return [1, UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload
  }

  @Test("the server takes a gzip request and advertises grpc-accept-encoding: gzip,deflate,identity")
  func serverAcceptsGzip() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      let frame = self.compressedFrame(MessageEncodingTests.gzipHello)
      let events = try await Raw.exchange(port: port, headers: self.gzipHeaders, data: frame)
      let id: Int32 = 1
      let blocks = Raw.headers(events, stream: id)
      #expect(Raw.value("grpc-status", in: blocks) == "0")
      #expect(Raw.value("grpc-accept-encoding", in: blocks) == "gzip,deflate,identity")
      #expect(Raw.value("grpc-encoding", in: blocks) == nil)
      // The echo comes back uncompressed: flag 0, length 10, "hello gRPC".
      #expect(Raw.payload(events, stream: id) == [0, 0, 0, 0, 10] + Array("hello gRPC".utf8))
    }
  }

  @Test("a gzip bomb over maxRequestPayloadSize is RESOURCE_EXHAUSTED")
  func serverRejectsBomb() async throws {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.rpc.maxRequestPayloadSize = 1 << 20
    try await withTestServer(services: [ProbeService()], config: config) { _, port in
      let bomb = MessageEncoding.gzip.compress([UInt8](repeating: 0, count: 16 << 20))
      let events = try await Raw.exchange(port: port, headers: self.gzipHeaders, data: self.compressedFrame(bomb))
      let id: Int32 = 1
      let blocks = Raw.headers(events, stream: id)
      #expect(Raw.value("grpc-status", in: blocks) == "8")
      #expect(Raw.value("grpc-message", in: blocks)?.contains("Decompressed message") == true)
      let echoed = try await echoRoundTrip(port: port)
      #expect(echoed == [1, 2, 3])
    }
  }

  @Test("a corrupt gzip message is INTERNAL and says it could not be decompressed")
  func serverRejectsCorrupt() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      let events = try await Raw.exchange(port: port, headers: self.gzipHeaders, data: self.compressedFrame([1, 2, 3, 4, 5, 6]))
      let id: Int32 = 1
      let blocks = Raw.headers(events, stream: id)
      #expect(Raw.value("grpc-status", in: blocks) == "13")
      #expect(Raw.value("grpc-message", in: blocks)?.contains("decompress") == true)
    }
  }

  @Test("with responseAlgorithm gzip the server compresses for a client that accepts gzip, not for one that does not")
  func serverCompressesResponses() async throws {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.compression.responseAlgorithm = .gzip
    try await withTestServer(services: [ProbeService()], config: config) { _, port in
      let message = [UInt8](repeating: 42, count: 1000)
      for accepts in [true, false] {
        let extra: HTTP2Headers = accepts ? [("grpc-accept-encoding", "identity, gzip")] : []
        let events = try await Raw.exchange(
          port: port,
          headers: Raw.grpcHeaders + extra,
          data: [0, 0, 0, 0x03, 0xE8] + message
        )
        let id: Int32 = 1
        let blocks = Raw.headers(events, stream: id)
        #expect(Raw.value("grpc-status", in: blocks) == "0")
        let frame = Raw.payload(events, stream: id)
        if accepts {
          #expect(Raw.value("grpc-encoding", in: blocks) == "gzip")
          #expect(frame.first == 1)
          #expect(frame.count < 1005)
          #expect(try MessageEncoding.gzip.decompress(Array(frame.dropFirst(5)), limit: 1 << 20) == message)
        } else {
          #expect(Raw.value("grpc-encoding", in: blocks) == nil)
          #expect(frame == [0, 0, 0, 0x03, 0xE8] + message)
        }
      }
    }
  }

  @Test("minimumMessageSize: smaller responses go out uncompressed on a gzip stream, larger ones compressed")
  func serverCompressionThreshold() async throws {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.compression.responseAlgorithm = .gzip
    config.compression.minimumMessageSize = 100
    try await withTestServer(services: [ProbeService()], config: config) { _, port in
      for size in [99, 100] {
        let message = [UInt8](repeating: 7, count: size)
        let events = try await Raw.exchange(
          port: port,
          headers: Raw.grpcHeaders + [("grpc-accept-encoding", "identity, gzip")],
          data: [0, 0, 0, 0, UInt8(size)] + message
        )
        let blocks = Raw.headers(events, stream: 1)
        #expect(Raw.value("grpc-status", in: blocks) == "0")
        #expect(Raw.value("grpc-encoding", in: blocks) == "gzip")
        let frame = Raw.payload(events, stream: 1)
        if size < 100 {
          #expect(frame == [0, 0, 0, 0, UInt8(size)] + message)
        } else {
          #expect(frame.first == 1)
          #expect(try MessageEncoding.gzip.decompress(Array(frame.dropFirst(5)), limit: 1 << 20) == message)
        }
      }
    }
  }

  @Test("minimumMessageSize on the client: smaller requests framed uncompressed, larger compressed; the server reads both")
  func clientCompressionThreshold() async throws {
    let machine = ClientStreamStateMachine(
      configuration: .init(
        maxMessageSize: 1 << 20, authority: "localhost", scheme: "http", userAgent: "test",
        requestEncoding: .gzip, minimumCompressedSize: 100))
    for size in [99, 100] {
      var buffer = ByteBuffer()
      machine.frameRequest([UInt8](repeating: 7, count: size), into: &buffer)
      #expect(buffer.getInteger(at: 0, as: UInt8.self) == (size < 100 ? 0 : 1))
    }
    try await withTestServer(services: [ProbeService()]) { _, port in
      var config = NGHTTP2ClientTransport.Config.defaults
      config.compression.algorithm = .gzip
      config.compression.minimumMessageSize = 100
      try await withTestClient(port: port, config: config) { client in
        for size in [99, 100] {
          let message = [UInt8](repeating: 7, count: size)
          let echoed = try await echoCall(client, message)
          #expect(echoed == message)
        }
      }
    }
  }

  @Test("our client sends gzip (config) and deflate (per call) and reads compressed responses")
  func clientCompresses() async throws {
    var serverConfig = NGHTTP2ServerTransport.Config.defaults
    serverConfig.compression.responseAlgorithm = .gzip
    try await withTestServer(services: [ProbeService()], config: serverConfig) { _, port in
      var config = NGHTTP2ClientTransport.Config.defaults
      config.compression.algorithm = .gzip
      try await withTestClient(port: port, config: config) { client in
        for compression in [nil, CompressionAlgorithm.deflate, CompressionAlgorithm.none] {
          var options = CallOptions.defaults
          options.compression = compression
          let sizes = [0, 1, 5000, 200_000]
          let received = try await client.bidirectionalStreaming(
            request: StreamingClientRequest(of: [UInt8].self) { writer in
              for size in sizes { try await writer.write([UInt8](repeating: UInt8(size % 251), count: size)) }
            },
            descriptor: ProbeService.echo,
            serializer: Self.bytes,
            deserializer: Self.bytes,
            options: options
          ) { response in
            var all: [[UInt8]] = []
            for try await message in response.messages { all.append(message) }
            return all
          }
          #expect(received == sizes.map { [UInt8](repeating: UInt8($0 % 251), count: $0) })
        }
      }
    }
  }

  @Test("a server whose compressed responses decompress past the client's limit: RESOURCE_EXHAUSTED")
  func clientLimitsDecompression() async throws {
    var serverConfig = NGHTTP2ServerTransport.Config.defaults
    serverConfig.compression.responseAlgorithm = .gzip
    try await withTestServer(services: [ProbeService()], config: serverConfig) { _, port in
      var config = NGHTTP2ClientTransport.Config.defaults
      config.rpc.maxResponsePayloadSize = 1000
      try await withTestClient(port: port, config: config) { client in
        let error = await #expect(throws: RPCError.self) {
          try await floodCall(client, count: 1, size: 1001)
        }
        #expect(error?.code == .resourceExhausted)
        #expect(error?.message.contains("Decompressed") == true, "\(String(describing: error))")
      }
    }
  }
}
