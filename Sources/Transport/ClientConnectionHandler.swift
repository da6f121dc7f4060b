internal import GRPCCore
internal import NIOCore
internal import NIOSSL
internal import NIOTLS

/// What a client stream sends: request parts, then the end of the request, or a cancellation.
enum ClientOutboundPart: Sendable {
  case part(RPCRequestPart<[UInt8]>)
  case end
  case cancel
}

/// One client-side HTTP/2 connection: calls are multiplexed on it as streams. Lives on its
/// channel's event loop.
final class ClientConnectionHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer
  typealias ResponsePart = RPCResponsePart<[UInt8]>

  /// What the handler keeps for one call.
  final class Stream {
    var id: Int32?
    let descriptor: MethodDescriptor
    var machine: ClientStreamStateMachine
    let inbound: StreamInbound<ResponsePart>
    let outbound: StreamOutbound<ClientOutboundPart>
    var ended = false

    init(
      descriptor: MethodDescriptor,
      machine: ClientStreamStateMachine,
      inbound: StreamInbound<ResponsePart>,
      outbound: StreamOutbound<ClientOutboundPart>
    ) {
      self.descriptor = descriptor
      self.machine = machine
      self.inbound = inbound
      self.outbound = outbound
    }
  }

  private let configuration: NGHTTP2ClientTransport.Config
  private let authority: String
  private let scheme: String
  private let onClose: @Sendable () -> Void
  /// Called when the server sends GOAWAY: new calls belong on another connection. The flag says
  /// whether the reason is that this client pinged too often.
  private let onGoAway: @Sendable (_ tooManyPings: Bool) -> Void
  private var session: NGHTTP2Session!
  private var context: ChannelHandlerContext!
  private var streams: [Int32: Stream] = [:]
  /// Streams whose request headers have not been submitted yet, by object identity.
  private var unopened: [ObjectIdentifier: Stream] = [:]
  private(set) var isClosed = false
  private(set) var isGoingAway = false
  private var backlogged: Set<Int32> = []
  private var keepalive: KeepalivePinger?
  /// Completed when the server's SETTINGS arrive (the connection is usable), failed if the
  /// connection closes or breaks before that.
  private var readyPromise: EventLoopPromise<Void>?
  private(set) var ready: EventLoopFuture<Void>!
  /// Why the connection closed, for the status of the calls it takes down.
  private var closeReason: String?

  init(
    configuration: NGHTTP2ClientTransport.Config,
    authority: String,
    scheme: String,
    onClose: @escaping @Sendable () -> Void,
    onGoAway: @escaping @Sendable (_ tooManyPings: Bool) -> Void = { _ in }
  ) {
    self.configuration = configuration
    self.authority = authority
    self.scheme = scheme
    self.onClose = onClose
    self.onGoAway = onGoAway
  }

  /// Whether new calls may use this connection.
  var isUsable: Bool { !self.isClosed && !self.isGoingAway }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    self.session = NGHTTP2Session(
      role: .client,
      settings: .init(
        maxConcurrentStreams: 0,
        initialWindowSize: UInt32(self.configuration.http2.targetWindowSize),
        maxHeaderListSize: UInt32(self.configuration.http2.maxHeaderListSize)
      ),
      allocator: context.channel.allocator
    )
    let promise = context.eventLoop.makePromise(of: Void.self)
    self.readyPromise = promise
    self.ready = promise.futureResult
    if context.channel.isActive { self.start(context: context) }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    self.completeReady(ConnectionError(reason: "the connection closed"))
  }

  func channelActive(context: ChannelHandlerContext) {
    self.start(context: context)
    context.fireChannelActive()
  }

  private var started = false
  private func start(context: ChannelHandlerContext) {
    guard !self.started else { return }
    self.started = true
    self.flushSession()
    if let keepalive = self.configuration.connection.keepalive {
      let pinger = KeepalivePinger(
        keepalive,
        eventLoop: context.eventLoop,
        ping: { [weak self] in
          guard let self, !self.isClosed else { return }
          self.session.submitPing()
          self.flushSession()
        },
        timedOut: { [weak self] in
          self?.close(reason: "the server did not answer a keepalive PING within \(keepalive.timeout)")
        }
      )
      self.keepalive = pinger
      pinger.start()
    }
  }

  /// The connection is established (the server's SETTINGS arrived) or will never be.
  private func completeReady(_ error: (any Error)?) {
    guard let promise = self.readyPromise else { return }
    self.readyPromise = nil
    if let error { promise.fail(error) } else { promise.succeed() }
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case .handshakeCompleted(let negotiated)? = event as? TLSUserEvent, negotiated != "h2" {
      // gRPC needs HTTP/2; a server that did not pick it with ALPN would answer in HTTP/1.1.
      let reason = "the server did not negotiate h2 with ALPN (it chose \(negotiated ?? "no protocol"))"
      self.completeReady(ConnectionError(reason: reason))
      self.close(reason: reason)
    }
    context.fireUserInboundEventTriggered(event)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    self.keepalive?.read()
    do {
      try self.session.receive(self.unwrapInboundIn(data))
    } catch {
      self.flushSession()
      self.close(reason: "the server broke the HTTP/2 protocol (\(error))")
      return
    }
    self.processEvents()
    self.flushSession()
  }

  private func processEvents() {
    for event in self.session.takeEvents() {
      switch event {
      case .headers(let streamID, let headers, let endStream):
        guard let stream = self.streams[streamID] else { continue }
        self.deliver(stream, stream.machine.receiveHeaders(headers, endStream: endStream))
      case .data(let streamID, let bytes):
        guard let stream = self.streams[streamID] else {
          self.session.consume(streamID: streamID, count: bytes.readableBytes)
          continue
        }
        let received = bytes.readableBytes
        let parts = stream.machine.receiveData(bytes)
        var messageBytes = 0
        for part in parts { if case .message(let m) = part { messageBytes += m.count } }
        let releasable = stream.inbound.append(
          contentsOf: parts,
          messageBytes: messageBytes,
          receivedBytes: received
        )
        self.session.consume(streamID: streamID, count: releasable)
        if stream.machine.isClosed {
          self.finish(stream)
          self.resetIfOpen(stream)
        }
      case .endStream(let streamID):
        guard let stream = self.streams[streamID] else { continue }
        self.deliver(stream, stream.machine.receiveEndStream())
      case .streamClosed(let streamID, let errorCode):
        guard let stream = self.streams.removeValue(forKey: streamID) else { continue }
        self.backlogged.remove(streamID)
        self.deliver(stream, stream.machine.streamClosed(errorCode: errorCode))
        stream.outbound.close(error: RPCError(code: .cancelled, message: "The stream is closed"))
        if self.isGoingAway && self.streams.isEmpty { self.close() }
      case .goAway(_, let errorCode, let debugData):
        self.isGoingAway = true
        self.onGoAway(errorCode == HTTP2ErrorCode.enhanceYourCalm && debugData == "too_many_pings")
      case .pingAck:
        self.keepalive?.acknowledged()
      case .settings:
        self.completeReady(nil)
      case .ping, .sentEndStream:
        ()
      }
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    self.isClosed = true
    self.keepalive?.stop()
    let reason = self.closeReason ?? "the server closed the connection"
    self.completeReady(ConnectionError(reason: reason + " before its HTTP/2 SETTINGS arrived"))
    for stream in Array(self.streams.values) + Array(self.unopened.values) {
      self.deliver(stream, stream.machine.connectionClosed(reason: reason))
      stream.outbound.close(error: RPCError(code: .unavailable, message: "The connection closed: \(reason)"))
    }
    self.streams.removeAll()
    self.unopened.removeAll()
    self.onClose()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    let reason: String
    if error is NIOSSLError || error is NIOSSLExtraError {
      reason = "TLS failed: \(error)"
    } else {
      reason = "\(error)"
    }
    self.completeReady(ConnectionError(reason: reason))
    self.close(reason: reason)
  }

  private func deliver(_ stream: Stream, _ parts: [ResponsePart]) {
    guard !parts.isEmpty else { return }
    _ = stream.inbound.append(contentsOf: parts, messageBytes: 0, receivedBytes: 0)
    if stream.machine.isClosed { self.finish(stream) }
  }

  private func finish(_ stream: Stream) {
    stream.inbound.finish()
  }

  private func resetIfOpen(_ stream: Stream) {
    if let id = stream.id, self.streams[id] != nil {
      self.session.submitReset(streamID: id, errorCode: HTTP2ErrorCode.cancel)
    }
  }

  // MARK: Calls

  /// Creates a call's stream. Its request headers go out with the first (metadata) part.
  func makeStream(descriptor: MethodDescriptor, compression: CompressionAlgorithm?) -> Stream {
    let eventLoop = self.context.eventLoop
    let handler = NIOLoopBound(self, eventLoop: eventLoop)
    let handle = NIOLoopBound(StreamHandle(), eventLoop: eventLoop)
    let stream = Stream(
      descriptor: descriptor,
      machine: ClientStreamStateMachine(
        configuration: .init(
          maxMessageSize: self.configuration.rpc.maxResponsePayloadSize,
          authority: self.authority,
          scheme: self.scheme,
          userAgent: self.configuration.userAgent,
          requestEncoding: MessageEncoding(compression ?? self.configuration.compression.algorithm),
          acceptedEncodings: MessageEncoding.enabled(in: self.configuration.compression.enabledAlgorithms),
          minimumCompressedSize: self.configuration.compression.minimumMessageSize
        )
      ),
      inbound: StreamInbound<ResponsePart>(
        highWatermark: self.configuration.http2.targetWindowSize,
        eventLoop: eventLoop,
        messageSize: NGHTTP2ClientTransport.responseSize,
        release: { count in
          guard let stream = handle.value.stream else { return }
          handler.value.release(stream, count: count)
        }
      ),
      outbound: StreamOutbound<ClientOutboundPart>(
        highWatermark: self.configuration.http2.targetWindowSize,
        eventLoop: eventLoop,
        flush: {
          guard let stream = handle.value.stream else { return }
          handler.value.drainOutbound(stream)
        }
      )
    )
    handle.value.stream = stream
    if self.isClosed || self.isGoingAway {
      _ = stream.inbound.append(
        contentsOf: CollectionOfOne(
          .status(Status(code: .unavailable, message: "The connection is closing"), [:])
        ),
        messageBytes: 0,
        receivedBytes: 0
      )
      stream.inbound.finish()
      stream.outbound.close(error: RPCError(code: .unavailable, message: "The connection is closing"))
    } else {
      self.unopened[ObjectIdentifier(stream)] = stream
    }
    return stream
  }

  private func release(_ stream: Stream, count: Int) {
    guard let id = stream.id else { return }
    self.session.consume(streamID: id, count: count)
    self.flushSession()
  }

  private func drainOutbound(_ stream: Stream) {
    self.drain(stream)
    self.flushSession()
  }

  /// Moves queued request parts into nghttp2, up to one window of bytes at a time.
  private func drain(_ stream: Stream) {
    var room = self.configuration.http2.targetWindowSize
    if let id = stream.id {
      room -= self.session.outboundData(streamID: id)?.buffer.readableBytes ?? 0
      if room <= 0 {
        self.backlogged.insert(id)
        return
      }
    }
    let (parts, more) = stream.outbound.take(maxBytes: room, size: Self.requestSize)
    for part in parts {
      switch part {
      case .part(.metadata(let metadata)):
        guard stream.id == nil, self.unopened.removeValue(forKey: ObjectIdentifier(stream)) != nil else {
          continue
        }
        let headers = stream.machine.requestHeaders(method: stream.descriptor, metadata: metadata)
        guard self.isUsable, let id = self.session.submitRequest(headers: headers) else {
          self.deliver(
            stream,
            [.status(Status(code: .unavailable, message: "The connection cannot open streams"), [:])]
          )
          stream.inbound.finish()
          stream.outbound.close(error: RPCError(code: .unavailable, message: "No stream"))
          return
        }
        stream.id = id
        self.streams[id] = stream
      case .part(.message(let message)):
        guard let id = stream.id, !stream.ended, let data = self.session.outboundData(streamID: id) else {
          continue
        }
        stream.machine.frameRequest(message, into: &data.buffer)
        self.session.resume(streamID: id)
      case .end:
        guard let id = stream.id, !stream.ended, let data = self.session.outboundData(streamID: id) else {
          continue
        }
        stream.ended = true
        data.endStream = true
        self.session.resume(streamID: id)
      case .cancel:
        self.unopened[ObjectIdentifier(stream)] = nil
        if let id = stream.id, self.streams[id] != nil {
          self.session.submitReset(streamID: id, errorCode: HTTP2ErrorCode.cancel)
        }
        let parts = stream.machine.streamClosed(errorCode: HTTP2ErrorCode.cancel)
        self.deliver(stream, parts)
        stream.inbound.finish()
      }
    }
    if let id = stream.id {
      if more { self.backlogged.insert(id) } else { self.backlogged.remove(id) }
    }
  }

  /// Cancels a call that is still open when its caller is done with it.
  func cancel(_ stream: Stream) {
    self.unopened[ObjectIdentifier(stream)] = nil
    guard let id = stream.id, self.streams[id] != nil else { return }
    self.session.submitReset(streamID: id, errorCode: HTTP2ErrorCode.cancel)
    self.flushSession()
  }

  private func flushSession() {
    guard !self.isClosed, let context = self.context else { return }
    self.flushDepth += 1
    defer {
      self.flushDepth -= 1
      if self.flushDepth == 0, self.closePending {
        self.closePending = false
        self.closeAfterLastWrite()
      }
    }
    var buffer = context.channel.allocator.buffer(capacity: 0)
    do {
      try self.session.produceAll(
        into: &buffer,
        backlogged: { self.backlogged },
        refill: { id in
          if let stream = self.streams[id] { self.drain(stream) } else { self.backlogged.remove(id) }
        },
        handleEvents: { self.processEvents() }
      )
    } catch {
      self.close()
      return
    }
    if buffer.readableBytes > 0 {
      self.lastWrite = context.writeAndFlush(self.wrapOutboundOut(buffer))
    }
    if !self.session.wantsRead && !self.session.wantsWrite {
      self.close()
    }
  }

  /// Sends GOAWAY; the connection closes once its streams are done.
  func beginGracefulShutdown() {
    guard !self.isClosed else { return }
    self.isGoingAway = true
    self.session.submitGoAway(errorCode: HTTP2ErrorCode.noError)
    self.flushSession()
    if self.streams.isEmpty { self.close() }
  }

  /// The last write, which a close waits for, so that a final RST_STREAM or GOAWAY is not lost.
  private var lastWrite: EventLoopFuture<Void>?
  private var closeRequested = false

  private var flushDepth = 0
  private var closePending = false

  /// Closes the connection once everything already produced is written. Inside a flush the close
  /// waits for that flush's write.
  func close(reason: String? = nil) {
    guard !self.isClosed, !self.closeRequested, self.context != nil else { return }
    self.closeRequested = true
    if self.closeReason == nil { self.closeReason = reason }
    if self.flushDepth > 0 {
      self.closePending = true
    } else {
      self.closeAfterLastWrite()
    }
  }

  private func closeAfterLastWrite() {
    guard let context = self.context else { return }
    if let lastWrite = self.lastWrite {
      lastWrite.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    } else {
      context.close(promise: nil)
    }
  }


  static let requestSize: @Sendable (ClientOutboundPart) -> Int = { part in
    if case .part(.message(let bytes)) = part { return bytes.count }
    return 0
  }
}

/// Why a connection could not be established or was lost; its text goes into UNAVAILABLE statuses.
struct ConnectionError: Error, CustomStringConvertible {
  var reason: String
  var description: String { self.reason }
}

/// Lets a stream's closures find the stream without keeping it alive.
final class StreamHandle {
  weak var stream: ClientConnectionHandler.Stream?
}
