import GRPCCore
import NIOCore
import Testing
@testable import Transport

@Suite("gRPC message framing")
struct GRPCMessageDeframerTests {
  func framed(_ messages: [[UInt8]]) -> [UInt8] {
    var buffer = ByteBuffer()
    for message in messages { GRPCMessageFramer.frame(message, into: &buffer) }
    return Array(buffer.readableBytesView)
  }

  @Test("messages split across DATA frames at every byte boundary reassemble")
  func splitAnywhere() throws {
    let messages: [[UInt8]] = [[], [1], Array(repeating: 9, count: 300), [4, 5, 6]]
    let bytes = self.framed(messages)
    for chunkSize in 1...bytes.count {
      var deframer = GRPCMessageDeframer(maxMessageSize: 1024)
      var received: [[UInt8]] = []
      var index = 0
      while index < bytes.count {
        let end = min(index + chunkSize, bytes.count)
        deframer.append(ByteBuffer(bytes: bytes[index..<end]))
        while let message = try deframer.next() { received.append(message.bytes) }
        index = end
      }
      #expect(received == messages, "chunk size \(chunkSize)")
      #expect(deframer.bufferedBytes == 0)
    }
  }

  @Test("a length prefix over the limit is rejected before the payload arrives")
  func oversized() {
    var deframer = GRPCMessageDeframer(maxMessageSize: 10)
    deframer.append(ByteBuffer(bytes: [0, 0, 0, 0, 11]))
    #expect(throws: GRPCMessageDeframer.Error.messageTooLarge(length: 11, limit: 10)) {
      try deframer.next()
    }
  }

  @Test("a compressed message without an encoding is rejected")
  func compressedWithoutEncoding() {
    var deframer = GRPCMessageDeframer(maxMessageSize: 10)
    deframer.append(ByteBuffer(bytes: [1, 0, 0, 0, 1, 42]))
    #expect(throws: GRPCMessageDeframer.Error.compressedWithoutEncoding) { try deframer.next() }
  }
}

@Suite("grpc-timeout, grpc-message, base64")
struct HeaderCodecTests {
  @Test("grpc-timeout parses every unit", arguments: [
    ("1H", Duration.seconds(3600)), ("2M", .seconds(120)), ("3S", .seconds(3)),
    ("4m", .milliseconds(4)), ("5u", .microseconds(5)), ("99999999n", .nanoseconds(99_999_999)),
  ])
  func parse(value: String, duration: Duration) {
    #expect(GRPCTimeout(header: Substring(value))?.duration == duration)
  }

  @Test("malformed grpc-timeout values are rejected", arguments: ["", "S", "1", "1s", "-1S", "123456789S", "1.5S", "abcS"])
  func malformed(value: String) {
    #expect(GRPCTimeout(header: Substring(value)) == nil)
  }

  @Test("grpc-timeout formatting fits in 8 digits and never shortens the deadline")
  func format() {
    #expect(GRPCTimeout(duration: .milliseconds(1)).headerValue == "1000000n")
    #expect(GRPCTimeout(duration: .seconds(1)).headerValue == "1000000u")
    let long = GRPCTimeout(duration: .seconds(1_000_000)).headerValue
    #expect(long.count <= 9)
    #expect(GRPCTimeout(header: Substring(long))!.duration >= .seconds(1_000_000))
  }

  @Test("grpc-message percent-encoding round-trips")
  func percent() {
    let message = "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and non-BMP \u{1F608}\t\n 100%"
    let encoded = GRPCPercentEncoding.encode(message)
    #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
    #expect(GRPCPercentEncoding.decode(encoded) == message)
    #expect(GRPCPercentEncoding.encode("plain") == "plain")
    #expect(GRPCPercentEncoding.decode("bad %zz and %4") == "bad %zz and %4")
  }

  @Test("base64 round-trips, and unpadded input decodes")
  func base64() {
    for length in 0..<10 {
      let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 200) }
      #expect(Base64.decode(Base64.encode(bytes)) == bytes)
    }
    #expect(Base64.decode("q6ur") == [0xAB, 0xAB, 0xAB])
    #expect(Base64.decode("AQ") == [1])
    #expect(Base64.decode("**") == nil)
  }
}

@Suite("ServerStreamStateMachine")
struct ServerStreamStateMachineTests {
  static let good: HTTP2Headers = [
    (":method", "POST"), (":scheme", "http"), (":path", "/pkg.Svc/Do"), (":authority", "x"),
    ("content-type", "application/grpc"), ("te", "trailers"), ("grpc-timeout", "5S"),
    ("custom", "value"), ("blob-bin", "AAEC"),
  ]

  func machine(limit: Int = 100) -> ServerStreamStateMachine {
    ServerStreamStateMachine(configuration: .init(maxMessageSize: limit))
  }

  func replacing(_ name: String, with value: String?) -> HTTP2Headers {
    var headers = Self.good.filter { $0.name != name }
    if let value { headers.append((name, value)) }
    return headers
  }

  @Test("a valid request is accepted with its metadata, grpc-timeout kept for GRPCCore")
  func accept() throws {
    var machine = self.machine()
    guard case .accept(let method, let metadata) = machine.receiveRequestHeaders(Self.good) else {
      Issue.record("rejected")
      return
    }
    #expect(method == MethodDescriptor(fullyQualifiedService: "pkg.Svc", method: "Do"))
    #expect(Array(metadata[stringValues: "custom"]) == ["value"])
    #expect(Array(metadata[binaryValues: "blob-bin"]) == [[0, 1, 2]])
    #expect(Array(metadata[stringValues: "grpc-timeout"]) == ["5S"])
    #expect(metadata[stringValues: "content-type"].first(where: { _ in true }) == nil)
  }

  @Test("a non-gRPC content-type gets HTTP 415", arguments: ["application/json", "text/plain", "application/grpcx", nil])
  func contentType(value: String?) {
    var machine = self.machine()
    guard case .reject(let headers) = machine.receiveRequestHeaders(self.replacing("content-type", with: value)) else {
      Issue.record("accepted")
      return
    }
    #expect(headers[":status"] == "415")
  }

  @Test("content-type application/grpc+proto and with parameters is accepted")
  func contentTypeVariants() {
    #expect(ServerStreamStateMachine.isGRPCContentType("application/grpc+proto"))
    #expect(ServerStreamStateMachine.isGRPCContentType("application/grpc;charset=utf-8"))
  }

  @Test("a malformed grpc-timeout is answered Trailers-Only INTERNAL")
  func badTimeout() {
    var machine = self.machine()
    guard case .reject(let headers) = machine.receiveRequestHeaders(self.replacing("grpc-timeout", with: "soon")) else {
      Issue.record("accepted")
      return
    }
    #expect(headers[":status"] == "200")
    #expect(headers["grpc-status"] == "13")
  }

  @Test("an unsupported grpc-encoding is answered UNIMPLEMENTED with grpc-accept-encoding")
  func badEncoding() {
    var machine = self.machine()
    guard case .reject(let headers) = machine.receiveRequestHeaders(self.replacing("grpc-encoding", with: "snappy")) else {
      Issue.record("accepted")
      return
    }
    #expect(headers["grpc-status"] == "12")
    #expect(headers["grpc-accept-encoding"] == "identity")
  }

  @Test("a malformed :path is answered UNIMPLEMENTED", arguments: ["/", "/onlyservice", "noslash/x", "/a/b/c"])
  func badPath(path: String) {
    var machine = self.machine()
    guard case .reject(let headers) = machine.receiveRequestHeaders(self.replacing(":path", with: path)) else {
      Issue.record("accepted")
      return
    }
    #expect(headers["grpc-status"] == "12")
  }

  @Test("an oversized message fails the stream with RESOURCE_EXHAUSTED")
  func oversized() {
    var machine = self.machine(limit: 4)
    _ = machine.receiveRequestHeaders(Self.good)
    guard case .fail(let status) = machine.receiveData(ByteBuffer(bytes: [0, 0, 0, 0, 5])) else {
      Issue.record("not failed")
      return
    }
    #expect(status.code == .resourceExhausted)
  }

  @Test("end of stream inside a message is INTERNAL")
  func truncated() {
    var machine = self.machine()
    _ = machine.receiveRequestHeaders(Self.good)
    _ = machine.receiveData(ByteBuffer(bytes: [0, 0, 0, 0, 9, 1]))
    #expect(machine.receiveEndStream()?.code == .internalError)
  }

  @Test("status before metadata is Trailers-Only; after metadata it is trailers")
  func statusShapes() {
    var early = self.machine()
    _ = early.receiveRequestHeaders(Self.good)
    guard case .trailersOnly(let only) = early.sendStatus(Status(code: .notFound, message: "100% gone"), metadata: [:]) else {
      Issue.record("not trailers-only")
      return
    }
    #expect(only.first! == (":status", "200"))
    #expect(only.contains { $0 == ("grpc-status", "5") })
    #expect(only.contains { $0 == ("grpc-message", "100%25 gone") })
    #expect(early.isClosed)

    var late = self.machine()
    _ = late.receiveRequestHeaders(Self.good)
    #expect(late.sendMetadata(["a": "b"]) != nil)
    var buffer = ByteBuffer()
    #expect(late.sendMessage([1, 2], into: &buffer))
    #expect(Array(buffer.readableBytesView) == [0, 0, 0, 0, 2, 1, 2])
    guard case .trailers(let trailers) = late.sendStatus(Status(code: .ok, message: ""), metadata: ["t-bin": .binary([255])]) else {
      Issue.record("not trailers")
      return
    }
    #expect(trailers.contains { $0 == ("grpc-status", "0") })
    #expect(trailers.contains { $0 == ("t-bin", "/w==") })
    #expect(!trailers.contains { $0.name == ":status" })
    guard case .none = late.sendStatus(Status(code: .ok, message: ""), metadata: [:]) else {
      Issue.record("a second status was produced")
      return
    }
  }
}

@Suite("ClientStreamStateMachine")
struct ClientStreamStateMachineTests {
  func machine() -> ClientStreamStateMachine {
    ClientStreamStateMachine(
      configuration: .init(maxMessageSize: 100, authority: "h:1", scheme: "http", userAgent: "t")
    )
  }

  func status(_ parts: [RPCResponsePart<[UInt8]>]) -> Status? {
    for part in parts { if case .status(let status, _) = part { return status } }
    return nil
  }

  @Test("request headers carry pseudo-headers first, te: trailers, and metadata (grpc-timeout too)")
  func requestHeaders() {
    var metadata: Metadata = ["k": "v"]
    metadata.addBinary([1], forKey: "b-bin")
    metadata.addString("1000000u", forKey: "grpc-timeout")
    let headers = self.machine().requestHeaders(
      method: MethodDescriptor(fullyQualifiedService: "p.S", method: "M"),
      metadata: metadata
    )
    #expect(headers.prefix(4).allSatisfy { $0.name.hasPrefix(":") })
    #expect(headers.contains { $0 == (":path", "/p.S/M") })
    #expect(headers.contains { $0 == ("te", "trailers") })
    #expect(headers.contains { $0 == ("content-type", "application/grpc") })
    #expect(headers.contains { $0 == ("b-bin", "AQ==") })
    #expect(headers.contains { $0 == ("grpc-timeout", "1000000u") })
  }

  @Test("Trailers-Only gives the status and its message decoded")
  func trailersOnly() {
    var machine = self.machine()
    let parts = machine.receiveHeaders(
      [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "7"), ("grpc-message", "no%20way")],
      endStream: true
    )
    #expect(self.status(parts) == Status(code: .permissionDenied, message: "no way"))
  }

  @Test("HTTP statuses map to gRPC codes", arguments: [
    (400, Status.Code.internalError), (401, .unauthenticated), (403, .permissionDenied), (404, .unimplemented),
    (415, .unknown), (429, .unavailable), (502, .unavailable), (503, .unavailable), (504, .unavailable),
  ])
  func httpStatus(http: Int, code: Status.Code) {
    var machine = self.machine()
    let parts = machine.receiveHeaders([(":status", String(http))], endStream: true)
    #expect(self.status(parts)?.code == code)
  }

  @Test("RST_STREAM codes map to gRPC codes", arguments: [
    (UInt32(0x0), Status.Code.internalError), (0x1, .internalError), (0x2, .internalError), (0x3, .internalError),
    (0x7, .unavailable), (0x8, .cancelled), (0xB, .resourceExhausted), (0xC, .permissionDenied),
  ])
  func reset(errorCode: UInt32, code: Status.Code) {
    var machine = self.machine()
    #expect(self.status(machine.streamClosed(errorCode: errorCode))?.code == code)
    #expect(machine.streamClosed(errorCode: errorCode).isEmpty)
  }

  @Test("headers, messages split anyhow, then trailers")
  func fullResponse() {
    var machine = self.machine()
    let head = machine.receiveHeaders([(":status", "200"), ("content-type", "application/grpc"), ("x", "y")], endStream: false)
    guard case .metadata(let metadata) = head.first else {
      Issue.record("no metadata")
      return
    }
    #expect(Array(metadata[stringValues: "x"]) == ["y"])
    var all: [RPCResponsePart<[UInt8]>] = []
    for byte in [0, 0, 0, 0, 2, 8, 9, 0, 0, 0, 0, 0] as [UInt8] {
      all += machine.receiveData(ByteBuffer(bytes: [byte]))
    }
    #expect(all == [.message([8, 9]), .message([])])
    let end = machine.receiveHeaders([("grpc-status", "0")], endStream: true)
    #expect(self.status(end)?.code == .ok)
    #expect(machine.isClosed)
  }

  @Test("trailers without grpc-status are UNKNOWN; a response message over the limit is RESOURCE_EXHAUSTED")
  func protocolErrors() {
    var missing = self.machine()
    _ = missing.receiveHeaders([(":status", "200"), ("content-type", "application/grpc")], endStream: false)
    #expect(self.status(missing.receiveHeaders([("x", "y")], endStream: true))?.code == .unknown)

    var large = self.machine()
    _ = large.receiveHeaders([(":status", "200"), ("content-type", "application/grpc")], endStream: false)
    #expect(self.status(large.receiveData(ByteBuffer(bytes: [0, 0, 0, 1, 0])))?.code == .resourceExhausted)
  }
}
