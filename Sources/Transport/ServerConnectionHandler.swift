internal import GRPCCore
internal import NIOCore

/// A stream accepted by a server connection, ready for GRPCCore's stream handler.
struct AcceptedStream: Sendable {
  var stream: RPCStream<NGHTTP2ServerTransport.Inbound, NGHTTP2ServerTransport.Outbound>
  var context: ServerContext
  /// Whether it was the connection's only open stream when it was handed over.
  var alone = false
}

/// One server-side HTTP/2 connection: bytes in and out through nghttp2, gRPC streams out to the
/// server transport's listener. Lives on its channel's event loop.
final class ServerConnectionHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  typealias RequestPart = RPCRequestPart<[UInt8]>
  typealias ResponsePart = RPCResponsePart<[UInt8]>

  /// What the handler keeps for one accepted stream.
  final class Stream {
    let id: Int32
    var machine: ServerStreamStateMachine
    let inbound: StreamInbound<RequestPart>
    let outbound: StreamOutbound<ResponsePart>
    let cancellation: ServerContext.RPCCancellationHandle

    init(
      id: Int32,
      machine: ServerStreamStateMachine,
      inbound: StreamInbound<RequestPart>,
      outbound: StreamOutbound<ResponsePart>,
      cancellation: ServerContext.RPCCancellationHandle
    ) {
      self.id = id
      self.machine = machine
      self.inbound = inbound
      self.outbound = outbound
      self.cancellation = cancellation
    }
  }

  private let configuration: NGHTTP2ServerTransport.Config
  private let accept: @Sendable (AcceptedStream) -> Void
  private var session: NGHTTP2Session!
  private var context: ChannelHandlerContext!
  private var streams: [Int32: Stream] = [:]
  private var accepted: [AcceptedStream] = []
  private var remotePeer = ""
  private var localPeer = ""
  private var isShuttingDown = false
  private var closed = false
  private var idleTask: Scheduled<Void>?
  private var keepalive: KeepalivePinger?
  /// The client's last PING that came no sooner than ``Config/ClientPings`` allows, and the
  /// PINGs that did since (see ``clientPinged()``).
  private var lastPermittedPing: NIODeadline?
  private var pingStrikes = 0

  /// What every stream's state machine is configured with, worked out once per connection.
  private let streamConfiguration: ServerStreamStateMachine.Configuration

  init(
    configuration: NGHTTP2ServerTransport.Config,
    accept: @escaping @Sendable (AcceptedStream) -> Void
  ) {
    self.configuration = configuration
    self.accept = accept
    self.streamConfiguration = .init(
      maxMessageSize: configuration.rpc.maxRequestPayloadSize,
      acceptedEncodings: MessageEncoding.enabled(in: configuration.compression.enabledAlgorithms),
      responseEncoding: MessageEncoding(configuration.compression.responseAlgorithm),
      minimumCompressedSize: configuration.compression.minimumMessageSize
    )
  }

  // MARK: Channel events

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    self.session = NGHTTP2Session(
      role: .server,
      settings: .init(
        maxConcurrentStreams: UInt32(self.configuration.http2.maxConcurrentStreams),
        initialWindowSize: UInt32(self.configuration.http2.targetWindowSize),
        maxHeaderListSize: UInt32(self.configuration.http2.maxHeaderListSize)
      ),
      allocator: context.channel.allocator
    )
    self.remotePeer = context.channel.remoteAddress?.grpcPeer ?? "unknown"
    self.localPeer = context.channel.localAddress?.grpcPeer ?? "unknown"
    if context.channel.isActive {
      self.start(context: context)
    }
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
    self.armIdleTimer()
    if let keepalive = self.configuration.connection.keepalive {
      let pinger = KeepalivePinger(
        keepalive,
        eventLoop: context.eventLoop,
        ping: { [weak self] in
          guard let self, !self.closed else { return }
          self.session.submitPing()
          self.flushSession()
        },
        timedOut: { [weak self] in
          guard let self else { return }
          self.session.submitGoAway(errorCode: HTTP2ErrorCode.noError)
          self.flushSession()
          self.close()
        }
      )
      self.keepalive = pinger
      pinger.start()
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    // After the close began, what the peer still sends is read and dropped (see lingeringClose).
    guard !self.closed else { return }
    let buffer = self.unwrapInboundIn(data)
    self.keepalive?.read()
    do {
      try self.session.receive(buffer)
    } catch {
      // Garbage instead of the preface, or a connection-level protocol violation: nghttp2 has
      // queued a GOAWAY if it could; send what it has and close.
      self.flushSession()
      self.close()
      return
    }
    self.processEvents()
    self.deliverAccepted()
    self.flushSession()
  }

  func channelInactive(context: ChannelHandlerContext) {
    self.connectionClosed()
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    self.close()
  }

  // MARK: Inbound events

  private func processEvents() {
    for event in self.session.takeEvents() {
      switch event {
      case .headers(let streamID, let headers, let endStream):
        self.receiveHeaders(streamID: streamID, headers: headers, endStream: endStream)
      case .data(let streamID, let bytes):
        self.receiveData(streamID: streamID, bytes: bytes)
      case .endStream(let streamID):
        self.receiveEndStream(streamID: streamID)
      case .streamClosed(let streamID, let errorCode):
        self.streamClosed(streamID: streamID, errorCode: errorCode)
      case .goAway, .settings:
        ()
      case .ping:
        self.clientPinged()
      case .pingAck:
        self.keepalive?.acknowledged()
      case .sentEndStream(let streamID):
        // The response is complete while the client is still sending: tell it to stop
        // (PROTOCOL-HTTP2.md allows RST_STREAM with NO_ERROR after a full response).
        if !self.session.isRemoteClosed(streamID: streamID) {
          self.session.submitReset(streamID: streamID, errorCode: HTTP2ErrorCode.noError)
        }
      }
    }
  }

  private func receiveHeaders(streamID: Int32, headers: HTTP2Headers, endStream: Bool) {
    if self.streams[streamID] != nil {
      // Request trailers: gRPC defines none, treat them as the end of the request.
      self.receiveEndStream(streamID: streamID)
      return
    }
    if self.isShuttingDown {
      self.session.submitReset(streamID: streamID, errorCode: HTTP2ErrorCode.refusedStream)
      return
    }
    var machine = ServerStreamStateMachine(configuration: self.streamConfiguration)
    switch machine.receiveRequestHeaders(headers) {
    case .reject(let fields):
      self.session.submitResponse(streamID: streamID, headers: fields.headerBlock, endStream: true)

    case .accept(let method, let metadata):
      let eventLoop = self.context.eventLoop
      let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
      let inbound = StreamInbound<RequestPart>(
        highWatermark: self.configuration.http2.targetWindowSize,
        eventLoop: eventLoop,
        messageSize: Self.requestSize,
        release: { count in loopBound.value.release(streamID: streamID, count: count) }
      )
      let outbound = StreamOutbound<ResponsePart>(
        highWatermark: self.configuration.http2.targetWindowSize,
        eventLoop: eventLoop,
        flush: { loopBound.value.drainOutbound(streamID: streamID) }
      )
      let stream = Stream(
        id: streamID,
        machine: machine,
        inbound: inbound,
        outbound: outbound,
        cancellation: ServerContext.RPCCancellationHandle()
      )
      self.streams[streamID] = stream
      _ = inbound.append(contentsOf: CollectionOfOne(.metadata(metadata)), messageBytes: 0, receivedBytes: 0)
      if endStream { inbound.finish() }
      self.cancelIdleTimer()

      let rpcStream = RPCStream(
        descriptor: method,
        inbound: RPCAsyncSequence(
          wrapping: StreamInboundSequence(inbound: inbound)
        ),
        outbound: RPCWriter.Closable(
          wrapping: StreamOutboundWriter<ResponsePart, ResponsePart>(
            outbound: outbound,
            size: Self.responseSize,
            wrap: { $0 },
            endPart: nil,
            errorPart: { error in
              let status =
                (error as? RPCError).map { Status(code: Status.Code($0.code), message: $0.message) }
                ?? Status(code: .unknown, message: "\(error)")
              return .status(status, [:])
            }
          )
        )
      )
      let context = ServerContext(
        descriptor: method,
        remotePeer: self.remotePeer,
        localPeer: self.localPeer,
        cancellation: stream.cancellation
      )
      self.accepted.append(AcceptedStream(stream: rpcStream, context: context))
    }
  }

  private func receiveData(streamID: Int32, bytes: ByteBuffer) {
    guard let stream = self.streams[streamID] else {
      self.session.consume(streamID: streamID, count: bytes.readableBytes)
      return
    }
    let received = bytes.readableBytes
    switch stream.machine.receiveData(bytes) {
    case .messages(let messages):
      var messageBytes = 0
      for message in messages { messageBytes += message.count }
      let releasable = stream.inbound.append(
        contentsOf: messages.lazy.map { RequestPart.message($0) },
        messageBytes: messageBytes,
        receivedBytes: received
      )
      self.session.consume(streamID: streamID, count: releasable)
    case .fail(let status):
      self.session.consume(streamID: streamID, count: received)
      self.failStream(stream, status: status)
    }
  }

  private func receiveEndStream(streamID: Int32) {
    guard let stream = self.streams[streamID] else { return }
    if let status = stream.machine.receiveEndStream() {
      self.failStream(stream, status: status)
    } else {
      stream.inbound.finish()
    }
  }

  private func streamClosed(streamID: Int32, errorCode: UInt32) {
    guard let stream = self.streams.removeValue(forKey: streamID) else { return }
    if errorCode != HTTP2ErrorCode.noError || !stream.machine.isClosed {
      // Reset by the client (or closed before we answered): the RPC is cancelled.
      let error = RPCError(code: .cancelled, message: "The client cancelled the RPC")
      stream.inbound.finish(throwing: error, discardBuffered: true)
      stream.outbound.close(error: error)
      stream.cancellation.cancel()
    } else {
      stream.inbound.finish()
      stream.outbound.close(error: RPCError(code: .internalError, message: "The stream is closed"))
    }
    if self.streams.isEmpty {
      self.armIdleTimer()
      if self.isShuttingDown { self.finishShutdown() }
    }
  }

  /// Ends a stream whose client broke the protocol: status to the client, error to the handler.
  private func failStream(_ stream: Stream, status: Status) {
    let error = RPCError(code: RPCError.Code(status.code) ?? .internalError, message: status.message)
    stream.inbound.finish(throwing: error, discardBuffered: true)
    stream.outbound.close(error: error)
    self.sendStatus(stream, status: status, metadata: [:])
  }

  private func release(streamID: Int32, count: Int) {
    self.session.consume(streamID: streamID, count: count)
    self.flushSession()
  }

  // MARK: Outbound

  private func drainOutbound(streamID: Int32) {
    guard let stream = self.streams[streamID] else { return }
    self.drain(stream)
    self.flushSession()
  }

  /// Moves queued response parts into nghttp2, up to one window of bytes at a time.
  private func drain(_ stream: Stream) {
    let pending = self.session.outboundData(streamID: stream.id)?.buffer.readableBytes ?? 0
    let room = self.configuration.http2.targetWindowSize - pending
    guard room > 0 else {
      self.backlogged.insert(stream.id)
      return
    }
    let (parts, more) = stream.outbound.take(maxBytes: room, size: Self.responseSize)
    if more { self.backlogged.insert(stream.id) } else { self.backlogged.remove(stream.id) }
    if !parts.isEmpty {
      // Response HEADERS or DATA go out: the client's PINGs start afresh.
      self.lastPermittedPing = nil
      self.pingStrikes = 0
    }
    for part in parts {
      switch part {
      case .metadata(let metadata):
        if let headers = stream.machine.sendMetadata(metadata) {
          self.session.submitResponse(streamID: stream.id, headers: headers, endStream: false)
        }
      case .message(let message):
        guard let data = self.session.outboundData(streamID: stream.id) else { continue }
        if stream.machine.sendMessage(message, into: &data.buffer) {
          self.session.resume(streamID: stream.id)
        }
      case .status(let status, let metadata):
        self.sendStatus(stream, status: status, metadata: metadata)
      }
    }
  }

  private var backlogged: Set<Int32> = []

  private func sendStatus(_ stream: Stream, status: Status, metadata: Metadata) {
    switch stream.machine.sendStatus(status, metadata: metadata) {
    case .trailers(let trailers):
      guard let data = self.session.outboundData(streamID: stream.id) else { return }
      data.endStream = true
      data.trailers = trailers
      self.session.resume(streamID: stream.id)
    case .trailersOnly(let headers):
      self.session.submitResponse(streamID: stream.id, headers: headers, endStream: true)
    case .none:
      ()
    }
  }

  /// Writes whatever nghttp2 has to send, refilling backlogged streams as it drains.
  private func flushSession() {
    guard !self.closed, let context = self.context else { return }
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

  private func deliverAccepted() {
    guard !self.accepted.isEmpty else { return }
    let alone = self.accepted.count == 1 && self.streams.count == 1
    for var stream in self.accepted {
      stream.alone = alone
      self.accept(stream)
    }
    self.accepted.removeAll(keepingCapacity: true)
  }

  // MARK: Connection management

  /// GOAWAY, let in-flight streams finish, then close (forcibly after the grace period).
  func beginGracefulShutdown(gracePeriod: Duration?) {
    guard !self.isShuttingDown, !self.closed else { return }
    self.isShuttingDown = true
    self.session.submitShutdownNotice()
    self.session.submitGoAway(errorCode: HTTP2ErrorCode.noError)
    self.flushSession()
    if self.streams.isEmpty {
      self.finishShutdown()
    } else if let gracePeriod {
      self.context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(gracePeriod)) { [weak self] in
        self?.close()
      }
    }
  }

  private func finishShutdown() {
    self.flushSession()
    self.close()
  }

  /// Polices the client's PINGs (gRPC's keepalive enforcement, see ``Config/ClientPings``):
  /// nghttp2 has already queued the ACK; a client that pings too often is struck, and the third
  /// strike closes the connection with ENHANCE_YOUR_CALM.
  private func clientPinged() {
    let policy = self.configuration.connection.clientPings
    let interval =
      self.streams.isEmpty && !policy.allowedWithoutCalls
      ? NGHTTP2ServerTransport.Config.ClientPings.withoutCallsInterval : policy.minimumInterval
    let now = NIODeadline.now()
    if let last = self.lastPermittedPing, now - last < TimeAmount(interval) {
      self.pingStrikes += 1
      guard self.pingStrikes > NGHTTP2ServerTransport.Config.ClientPings.maxStrikes else { return }
      self.session.submitGoAway(errorCode: HTTP2ErrorCode.enhanceYourCalm, debugData: "too_many_pings")
      self.flushSession()
      self.close()
    } else {
      self.lastPermittedPing = now
    }
  }

  private func armIdleTimer() {
    guard let idle = self.configuration.connection.maxIdleTime, self.idleTask == nil else { return }
    self.idleTask = self.context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(idle)) { [weak self] in
      guard let self else { return }
      self.idleTask = nil
      if self.streams.isEmpty { self.beginGracefulShutdown(gracePeriod: nil) }
    }
  }

  private func cancelIdleTimer() {
    self.idleTask?.cancel()
    self.idleTask = nil
  }

  /// The last write, which a close waits for, so that a final GOAWAY or trailers are not lost.
  private var lastWrite: EventLoopFuture<Void>?

  private var flushDepth = 0
  private var closePending = false

  /// Closes the connection once everything already produced is written. Inside a flush the close
  /// waits for that flush's write.
  private func close() {
    guard !self.closed, self.context != nil else { return }
    self.closed = true
    if self.flushDepth > 0 {
      self.closePending = true
    } else {
      self.closeAfterLastWrite()
    }
  }

  private func closeAfterLastWrite() {
    guard let context = self.context else { return }
    if let lastWrite = self.lastWrite {
      lastWrite.assumeIsolated().whenComplete { _ in Self.lingeringClose(context) }
    } else {
      Self.lingeringClose(context)
    }
  }

  /// How long a closing connection keeps reading after its last frame, waiting for the peer to
  /// close.
  static let lingerTime: TimeAmount = .seconds(1)

  /// Ends the output (FIN after the last frame), then reads and drops what the peer still sends
  /// until it closes, for at most ``lingerTime``. Closing a socket with unread input resets the
  /// connection, and a peer that gets the reset may lose the GOAWAY that came before it.
  private static func lingeringClose(_ context: ChannelHandlerContext) {
    let outputClosed = context.eventLoop.makePromise(of: Void.self)
    context.close(mode: .output, promise: outputClosed)
    outputClosed.futureResult.assumeIsolated().whenComplete { result in
      guard case .success = result, context.channel.isActive else {
        context.close(promise: nil)
        return
      }
      context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
        context.close(promise: nil)
      }
    }
  }

  private func connectionClosed() {
    self.closed = true
    self.keepalive?.stop()
    self.cancelIdleTimer()
    let error = RPCError(code: .unavailable, message: "The connection closed")
    for stream in self.streams.values {
      stream.inbound.finish(throwing: error, discardBuffered: true)
      stream.outbound.close(error: error)
      stream.cancellation.cancel()
    }
    self.streams.removeAll()
  }

  static let requestSize: @Sendable (RequestPart) -> Int = { part in
    if case .message(let bytes) = part { return bytes.count }
    return 0
  }

  static let responseSize: @Sendable (ResponsePart) -> Int = { part in
    if case .message(let bytes) = part { return bytes.count }
    return 0
  }
}

extension TimeAmount {
  init(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
  }
}
