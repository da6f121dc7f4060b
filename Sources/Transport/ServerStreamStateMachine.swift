internal import GRPCCore
internal import NIOCore

/// The gRPC protocol of one server stream (PROTOCOL-HTTP2.md), without I/O: it turns a request
/// header block and DATA into request parts, and response parts into header blocks and framed
/// bytes. Rejections of bad requests come out as complete header blocks to send.
struct ServerStreamStateMachine {
  struct Configuration {
    var maxMessageSize: Int
    /// Request encodings accepted besides identity.
    var acceptedEncodings: [MessageEncoding] = []
    /// The encoding for responses when the client accepts it; `nil`: identity.
    var responseEncoding: MessageEncoding?
    /// Smaller response messages are sent uncompressed.
    var minimumCompressedSize = 0
  }

  enum HeadersAction: Equatable {
    /// A valid request: deliver it to the application.
    case accept(method: MethodDescriptor, metadata: Metadata)
    /// An invalid request: send `headers` with END_STREAM and forget the stream.
    case reject(headers: [String: String])
  }

  enum DataAction {
    /// Whole messages received, possibly none.
    case messages([[UInt8]])
    /// A protocol violation: fail the inbound side and end the stream with this status.
    case fail(Status)
  }

  private enum State {
    case idle
    case open(responseHeadersSent: Bool)
    case closed
  }

  let configuration: Configuration
  private var state: State = .idle
  private var deframer: GRPCMessageDeframer
  /// The request's `grpc-encoding`, when not identity.
  private(set) var requestEncoding: MessageEncoding?
  /// The encoding of response messages, agreed from the request's `grpc-accept-encoding`.
  private(set) var responseEncoding: MessageEncoding?

  init(configuration: Configuration) {
    self.configuration = configuration
    self.deframer = GRPCMessageDeframer(maxMessageSize: configuration.maxMessageSize)
  }

  var isClosed: Bool {
    if case .closed = self.state { return true }
    return false
  }

  // MARK: Inbound

  /// Validates the request header block.
  mutating func receiveRequestHeaders(_ headers: HTTP2Headers) -> HeadersAction {
    var method: String?
    var path: String?
    var contentType: String?
    var encoding: String?
    var acceptEncoding: String?
    var timeout: Substring?
    for (name, value) in headers {
      switch name {
      case ":method": method = value
      case ":path": path = value
      case "content-type": contentType = value
      case "grpc-encoding": encoding = value
      case "grpc-accept-encoding": acceptEncoding = value
      case "grpc-timeout": timeout = Substring(value)
      default: ()
      }
    }
    guard let contentType, Self.isGRPCContentType(contentType) else {
      self.state = .closed
      return .reject(headers: [
        ":status": "415",
        "grpc-status": String(Status.Code.internalError.rawValue),
        "grpc-message": "Unsupported content-type: \(GRPCPercentEncoding.encode(contentType ?? "none"))",
      ])
    }
    guard method == "POST" else {
      self.state = .closed
      return .reject(headers: [
        ":status": "405",
        "grpc-status": String(Status.Code.internalError.rawValue),
        "grpc-message": "Method must be POST",
      ])
    }
    guard let path, let descriptor = Self.methodDescriptor(path: path) else {
      self.state = .closed
      return .reject(
        headers: Self.trailersOnly(Status(code: .unimplemented, message: "Malformed :path \(path ?? "")"))
      )
    }
    if let timeout, GRPCTimeout(header: timeout) == nil {
      self.state = .closed
      return .reject(
        headers: Self.trailersOnly(Status(code: .internalError, message: "Malformed grpc-timeout: \(timeout)"))
      )
    }
    if let encoding, encoding != "identity" {
      guard let accepted = MessageEncoding(rawValue: encoding),
        self.configuration.acceptedEncodings.contains(accepted)
      else {
        self.state = .closed
        var headers = Self.trailersOnly(
          Status(code: .unimplemented, message: "Unsupported grpc-encoding: \(GRPCPercentEncoding.encode(encoding))")
        )
        headers["grpc-accept-encoding"] = MessageEncoding.acceptEncoding(self.configuration.acceptedEncodings)
        return .reject(headers: headers)
      }
      self.requestEncoding = accepted
      self.deframer.acceptsCompressed = true
    }
    if let preferred = self.configuration.responseEncoding, let acceptEncoding,
      acceptEncoding.split(separator: ",").contains(where: {
        $0.filter { $0 != " " && $0 != "\t" } == preferred.rawValue
      })
    {
      self.responseEncoding = preferred
    }
    self.state = .open(responseHeadersSent: false)
    return .accept(method: descriptor, metadata: Metadata(http2Headers: headers))
  }

  /// Takes DATA payload and returns the messages it completes.
  mutating func receiveData(_ bytes: ByteBuffer) -> DataAction {
    guard case .open = self.state else { return .messages([]) }
    self.deframer.append(bytes)
    var messages: [[UInt8]] = []
    do {
      while let message = try self.deframer.next() {
        guard message.compressed, let encoding = self.requestEncoding else {
          messages.append(message.bytes)
          continue
        }
        do {
          messages.append(try encoding.decompress(message.bytes, limit: self.configuration.maxMessageSize))
        } catch {
          switch error {
          case .tooLarge(let limit):
            return .fail(
              Status(
                code: .resourceExhausted,
                message: "Decompressed message is over the limit of \(limit) bytes"
              )
            )
          case .corrupt(let reason):
            return .fail(Status(code: .internalError, message: "Could not decompress a message: \(reason)"))
          }
        }
      }
    } catch {
      switch error {
      case .messageTooLarge(let length, let limit):
        return .fail(
          Status(
            code: .resourceExhausted,
            message: "Message of \(length) bytes is over the limit of \(limit) bytes"
          )
        )
      case .compressedWithoutEncoding:
        return .fail(Status(code: .internalError, message: "Compressed message without grpc-encoding"))
      case .invalidFlag(let flag):
        return .fail(Status(code: .internalError, message: "Invalid compressed flag \(flag)"))
      }
    }
    return .messages(messages)
  }

  /// The client half-closed. Returns a status to fail with when a message was left incomplete.
  mutating func receiveEndStream() -> Status? {
    if self.deframer.bufferedBytes > 0 {
      return Status(code: .internalError, message: "Stream ended inside a message")
    }
    return nil
  }

  // MARK: Outbound

  /// The response header block for initial metadata; `nil` if it was already sent or the stream
  /// is closed.
  mutating func sendMetadata(_ metadata: Metadata) -> HTTP2Headers? {
    guard case .open(false) = self.state else { return nil }
    self.state = .open(responseHeadersSent: true)
    var headers: HTTP2Headers = [(":status", "200"), ("content-type", "application/grpc")]
    if let encoding = self.responseEncoding {
      headers.append(("grpc-encoding", encoding.rawValue))
    }
    headers.append(("grpc-accept-encoding", MessageEncoding.acceptEncoding(self.configuration.acceptedEncodings)))
    metadata.appendHeaders(to: &headers)
    return headers
  }

  /// Frames a response message (compressed if agreed); `false` when the stream cannot send it
  /// (no headers yet or closed).
  mutating func sendMessage(_ message: [UInt8], into buffer: inout ByteBuffer) -> Bool {
    guard case .open(true) = self.state else { return false }
    if let encoding = self.responseEncoding, message.count >= self.configuration.minimumCompressedSize {
      GRPCMessageFramer.frame(encoding.compress(message), compressed: true, into: &buffer)
    } else {
      GRPCMessageFramer.frame(message, into: &buffer)
    }
    return true
  }

  enum StatusAction {
    /// Response headers went out already: send these trailers after the data.
    case trailers(HTTP2Headers)
    /// Nothing was sent yet: send this single header block with END_STREAM.
    case trailersOnly(HTTP2Headers)
    /// The stream is already closed.
    case none
  }

  /// The header block that carries the final status.
  mutating func sendStatus(_ status: Status, metadata: Metadata) -> StatusAction {
    switch self.state {
    case .open(let headersSent):
      self.state = .closed
      var headers: HTTP2Headers = []
      if !headersSent {
        headers.append((":status", "200"))
        headers.append(("content-type", "application/grpc"))
      }
      headers.append(("grpc-status", String(status.code.rawValue)))
      if !status.message.isEmpty {
        headers.append(("grpc-message", GRPCPercentEncoding.encode(status.message)))
      }
      metadata.appendHeaders(to: &headers)
      return headersSent ? .trailers(headers) : .trailersOnly(headers)
    case .idle, .closed:
      return .none
    }
  }

  // MARK: Helpers

  static func isGRPCContentType(_ value: String) -> Bool {
    guard value.hasPrefix("application/grpc") else { return false }
    let rest = value.utf8.dropFirst(16)
    guard let next = rest.first else { return true }
    return next == UInt8(ascii: "+") || next == UInt8(ascii: ";")
  }

  /// `/package.Service/Method` as a descriptor.
  static func methodDescriptor(path: String) -> MethodDescriptor? {
    let parts = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
    return MethodDescriptor(
      fullyQualifiedService: String(decoding: parts[1], as: UTF8.self),
      method: String(decoding: parts[2], as: UTF8.self)
    )
  }

  static func trailersOnly(_ status: Status) -> [String: String] {
    var headers = [
      ":status": "200",
      "content-type": "application/grpc",
      "grpc-status": String(status.code.rawValue),
    ]
    if !status.message.isEmpty {
      headers["grpc-message"] = GRPCPercentEncoding.encode(status.message)
    }
    return headers
  }
}

extension Dictionary where Key == String, Value == String {
  /// The fields as a header block, pseudo-headers first.
  var headerBlock: HTTP2Headers {
    self.sorted { lhs, rhs in
      let lhsPseudo = lhs.key.hasPrefix(":")
      let rhsPseudo = rhs.key.hasPrefix(":")
      if lhsPseudo != rhsPseudo { return lhsPseudo }
      return lhs.key < rhs.key
    }.map { (name: $0.key, value: $0.value) }
  }
}
