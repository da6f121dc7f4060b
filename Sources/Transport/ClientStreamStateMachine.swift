internal import GRPCCore
internal import NIOCore

/// The gRPC protocol of one client stream (PROTOCOL-HTTP2.md), without I/O: it builds the request
/// header block, frames request messages, and turns response header blocks, DATA and resets into
/// response parts, ending with exactly one status.
struct ClientStreamStateMachine {
  struct Configuration {
    var maxMessageSize: Int
    var authority: String
    var scheme: String
    var userAgent: String
    /// The encoding of request messages; `nil`: identity.
    var requestEncoding: MessageEncoding? = nil
    /// Response encodings accepted besides identity.
    var acceptedEncodings: [MessageEncoding] = []
    /// Smaller request messages are sent uncompressed.
    var minimumCompressedSize = 0
  }

  private enum State {
    /// Waiting for the response header block.
    case awaitingHeaders
    /// Response headers received; messages and then trailers follow.
    case receivingMessages
    /// A status was produced.
    case closed
  }

  let configuration: Configuration
  private var state: State = .awaitingHeaders
  private var deframer: GRPCMessageDeframer
  /// The response's `grpc-encoding`, when not identity.
  private var responseEncoding: MessageEncoding?

  init(configuration: Configuration) {
    self.configuration = configuration
    self.deframer = GRPCMessageDeframer(maxMessageSize: configuration.maxMessageSize)
  }

  var isClosed: Bool {
    if case .closed = self.state { return true }
    return false
  }

  /// The request header block.
  func requestHeaders(method: MethodDescriptor, metadata: Metadata) -> HTTP2Headers {
    var headers: HTTP2Headers = [
      (":method", "POST"),
      (":scheme", self.configuration.scheme),
      (":path", "/" + method.fullyQualifiedMethod),
      (":authority", self.configuration.authority),
      ("content-type", "application/grpc"),
      ("te", "trailers"),
      ("user-agent", self.configuration.userAgent),
      ("grpc-accept-encoding", MessageEncoding.acceptEncoding(self.configuration.acceptedEncodings)),
    ]
    if let encoding = self.configuration.requestEncoding {
      headers.append(("grpc-encoding", encoding.rawValue))
    }
    metadata.appendHeaders(to: &headers)
    return headers
  }

  /// Frames a request message, compressed if the call has an encoding.
  func frameRequest(_ message: [UInt8], into buffer: inout ByteBuffer) {
    if let encoding = self.configuration.requestEncoding, message.count >= self.configuration.minimumCompressedSize {
      GRPCMessageFramer.frame(encoding.compress(message), compressed: true, into: &buffer)
    } else {
      GRPCMessageFramer.frame(message, into: &buffer)
    }
  }

  /// A response header block: initial metadata, trailers, or Trailers-Only.
  mutating func receiveHeaders(_ headers: HTTP2Headers, endStream: Bool) -> [RPCResponsePart<[UInt8]>] {
    switch self.state {
    case .awaitingHeaders:
      var httpStatus: Int?
      var contentType: String?
      var encoding: String?
      for (name, value) in headers {
        switch name {
        case ":status": httpStatus = Int(value)
        case "content-type": contentType = value
        case "grpc-encoding": encoding = value
        default: ()
        }
      }
      if httpStatus == nil || httpStatus! / 100 == 1 {
        // An informational response: wait for the real one.
        if !endStream { return [] }
      }
      guard httpStatus == 200 else {
        self.state = .closed
        return [.status(Status(httpStatus: httpStatus ?? 0), Metadata(http2Headers: headers))]
      }
      if endStream {
        // Trailers-Only.
        self.state = .closed
        return [self.status(from: headers)]
      }
      guard let contentType, ServerStreamStateMachine.isGRPCContentType(contentType) else {
        self.state = .closed
        return [
          .status(
            Status(code: .unknown, message: "Unexpected content-type \(contentType ?? "none")"),
            Metadata(http2Headers: headers)
          )
        ]
      }
      if let encoding, encoding != "identity" {
        guard let accepted = MessageEncoding(rawValue: encoding),
          self.configuration.acceptedEncodings.contains(accepted)
        else {
          self.state = .closed
          return [
            .status(
              Status(code: .internalError, message: "The server used grpc-encoding \(encoding), which the client does not accept"),
              Metadata(http2Headers: headers)
            )
          ]
        }
        self.responseEncoding = accepted
        self.deframer.acceptsCompressed = true
      }
      self.state = .receivingMessages
      return [.metadata(Metadata(http2Headers: headers))]

    case .receivingMessages:
      // Trailers.
      self.state = .closed
      if self.deframer.bufferedBytes > 0 {
        return [.status(Status(code: .internalError, message: "Stream ended inside a message"), [:])]
      }
      return [self.status(from: headers)]

    case .closed:
      return []
    }
  }

  /// DATA payload: the messages it completes, or a status when the peer broke the protocol.
  mutating func receiveData(_ bytes: ByteBuffer) -> [RPCResponsePart<[UInt8]>] {
    guard case .receivingMessages = self.state else {
      if case .awaitingHeaders = self.state {
        self.state = .closed
        return [.status(Status(code: .internalError, message: "DATA before response headers"), [:])]
      }
      return []
    }
    self.deframer.append(bytes)
    var parts: [RPCResponsePart<[UInt8]>] = []
    do {
      while let message = try self.deframer.next() {
        guard message.compressed, let encoding = self.responseEncoding else {
          parts.append(.message(message.bytes))
          continue
        }
        do {
          parts.append(.message(try encoding.decompress(message.bytes, limit: self.configuration.maxMessageSize)))
        } catch {
          self.state = .closed
          let status: Status
          switch error {
          case .tooLarge(let limit):
            status = Status(
              code: .resourceExhausted,
              message: "Decompressed response message is over the limit of \(limit) bytes"
            )
          case .corrupt(let reason):
            status = Status(code: .internalError, message: "Could not decompress a response message: \(reason)")
          }
          parts.append(.status(status, [:]))
          return parts
        }
      }
    } catch {
      self.state = .closed
      switch error {
      case .messageTooLarge(let length, let limit):
        parts.append(
          .status(
            Status(
              code: .resourceExhausted,
              message: "Response message of \(length) bytes is over the limit of \(limit) bytes"
            ),
            [:]
          )
        )
      case .compressedWithoutEncoding, .invalidFlag:
        parts.append(.status(Status(code: .internalError, message: "Unsupported compressed message"), [:]))
      }
    }
    return parts
  }

  /// The server ended the stream with a DATA frame, i.e. without trailers.
  mutating func receiveEndStream() -> [RPCResponsePart<[UInt8]>] {
    guard !self.isClosed else { return [] }
    self.state = .closed
    return [.status(Status(code: .internalError, message: "Server ended the stream without trailers"), [:])]
  }

  /// The stream closed; a reset before a status maps to a status.
  mutating func streamClosed(errorCode: UInt32) -> [RPCResponsePart<[UInt8]>] {
    guard !self.isClosed else { return [] }
    self.state = .closed
    return [.status(Status(http2ErrorCode: errorCode), [:])]
  }

  /// The connection went away before a status arrived.
  mutating func connectionClosed(reason: String) -> [RPCResponsePart<[UInt8]>] {
    guard !self.isClosed else { return [] }
    self.state = .closed
    return [.status(Status(code: .unavailable, message: "The connection closed: \(reason)"), [:])]
  }

  private func status(from headers: HTTP2Headers) -> RPCResponsePart<[UInt8]> {
    var code: Status.Code?
    var message = ""
    for (name, value) in headers {
      switch name {
      case "grpc-status": code = Int(value).flatMap(Status.Code.init(rawValue:))
      case "grpc-message": message = GRPCPercentEncoding.decode(value)
      default: ()
      }
    }
    guard let code else {
      return .status(
        Status(code: .unknown, message: "Response trailers have no valid grpc-status"),
        Metadata(http2Headers: headers)
      )
    }
    return .status(Status(code: code, message: message), Metadata(http2Headers: headers))
  }
}
