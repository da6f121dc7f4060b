public import GRPCCore
public import NIOCore
internal import NIOConcurrencyHelpers
public import NIOPosix
internal import NIOSSL

/// A GRPCCore client transport: calls are multiplexed as HTTP/2 streams (libnghttp2) on one
/// connection (SwiftNIO), h2c with prior knowledge or TLS with ALPN `h2`.
///
/// The connection is made on first use and remade after it closes. A connection is ready once
/// TCP, TLS (with ALPN `h2`) and the server's HTTP/2 SETTINGS are through. While attempts fail,
/// calls fail at once with UNAVAILABLE (with the reason) and the transport keeps retrying in the
/// background, waiting longer after each failure (``Config-swift.struct/backoff``), so that calls
/// succeed again as soon as the server is back.
public final class NGHTTP2ClientTransport: ClientTransport, Sendable {
  public typealias Bytes = [UInt8]

  private enum ConnectionState {
    case idle
    case connecting(EventLoopFuture<Connection>)
    case ready(Connection)
    case backingOff(until: NIODeadline, error: any Error)
    case shutDown
  }

  private struct Connection: Sendable {
    var channel: any Channel
    var handler: NIOLoopBound<ClientConnectionHandler>
  }

  private let target: Target
  private let config: Config
  private let group: any EventLoopGroup
  private let state = NIOLockedValueBox<(ConnectionState, attempts: Int)>((.idle, 0))
  private let shutdownPromise: EventLoopPromise<Void>
  private let sslContext: NIOSSLContext?
  /// The keepalive time of new connections: the configured one, doubled each time a server
  /// closes a connection for too many PINGs (as gRPC clients do).
  private let keepaliveTime: NIOLockedValueBox<Duration?>
  /// The channel of the connection attempt under way, closed by a shutdown so that it does not
  /// run on to its connect timeout; `shutDown` bars attempts that start afterwards.
  private let attempt = NIOLockedValueBox<(channel: (any Channel)?, shutDown: Bool)>((nil, false))

  public let retryThrottle: RetryThrottle?

  public init(
    target: Target,
    config: Config = .defaults,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) throws {
    self.target = target
    self.config = config
    self.keepaliveTime = NIOLockedValueBox(config.connection.keepalive?.time)
    self.group = eventLoopGroup
    self.shutdownPromise = eventLoopGroup.any().makePromise()
    self.retryThrottle = config.serviceConfig.retryThrottling.map { RetryThrottle(policy: $0) }
    self.sslContext = try config.tls.map { tls in
      var configuration = tls.configuration
      configuration.applicationProtocols = ["h2"]
      return try NIOSSLContext(configuration: configuration)
    }
  }

  deinit {
    // A transport that was never run (its client shut down before `connect()` started) still owns
    // an unfulfilled promise; NIO treats dropping one as a leak.
    beginGracefulShutdown()
  }

  /// Runs until ``beginGracefulShutdown()`` or until its task is cancelled: connects eagerly, then
  /// reconnects on demand.
  public func connect() async throws {
    await withTaskCancellationHandler {
      _ = try? await self.connection()
      try? await self.shutdownPromise.futureResult.get()
    } onCancel: {
      self.beginGracefulShutdown()
    }
  }

  public func beginGracefulShutdown() {
    let (first, current): (Bool, Connection?) = self.state.withLockedValue { state in
      if case .shutDown = state.0 { return (false, nil) }
      defer { state.0 = .shutDown }
      if case .ready(let connection) = state.0 { return (true, connection) }
      return (true, nil)
    }
    guard first else { return }
    let attempt = self.attempt.withLockedValue { attempt in
      attempt.shutDown = true
      defer { attempt.channel = nil }
      return attempt.channel
    }
    attempt?.close(promise: nil)
    if let current {
      current.channel.eventLoop.execute { current.handler.value.beginGracefulShutdown() }
    }
    self.shutdownPromise.succeed()
  }

  public func config(forMethod descriptor: MethodDescriptor) -> MethodConfig? {
    // Most specific first: the method, then its service, then the default ("" service).
    let configs = self.config.serviceConfig.methodConfig
    let service = descriptor.service.fullyQualifiedService
    for candidate in [
      MethodConfig.Name(service: service, method: descriptor.method),
      MethodConfig.Name(service: service),
      MethodConfig.Name(service: ""),
    ] {
      if let config = configs.first(where: { $0.names.contains(candidate) }) { return config }
    }
    return nil
  }

  public func withStream<T: Sendable>(
    descriptor: MethodDescriptor,
    options: CallOptions,
    _ closure: (_ stream: RPCStream<Inbound, Outbound>, _ context: ClientContext) async throws -> T
  ) async throws -> T {
    let connection = try await self.connection()
    let stream = try await connection.channel.eventLoop.submit {
      let handler = connection.handler.value
      let stream = handler.makeStream(descriptor: descriptor, compression: options.compression)
      return (stream.inbound, stream.outbound, NIOLoopBound(stream, eventLoop: connection.channel.eventLoop))
    }.get()
    let (inbound, outbound, bound) = stream
    let rpcStream = RPCStream(
      descriptor: descriptor,
      inbound: RPCAsyncSequence(
        wrapping: StreamInboundSequence(inbound: inbound)
      ),
      outbound: RPCWriter.Closable(
        wrapping: StreamOutboundWriter<RPCRequestPart<[UInt8]>, ClientOutboundPart>(
          outbound: outbound,
          size: ClientConnectionHandler.requestSize,
          wrap: { .part($0) },
          endPart: .end,
          errorPart: { _ in .cancel }
        )
      )
    )
    let context = ClientContext(
      descriptor: descriptor,
      remotePeer: connection.channel.remoteAddress?.grpcPeer ?? "unknown",
      localPeer: connection.channel.localAddress?.grpcPeer ?? "unknown"
    )
    defer {
      // The call is over for its caller: reset the stream if it is still open.
      connection.channel.eventLoop.execute {
        connection.handler.value.cancel(bound.value)
      }
    }
    return try await closure(rpcStream, context)
  }

  /// The live connection, made if needed.
  private func connection() async throws -> Connection {
    enum Next {
      case use(Connection)
      case wait(EventLoopFuture<Connection>)
      case fail(any Error)
      case connect(EventLoopPromise<Connection>)
    }
    let next: Next = self.state.withLockedValue { state in
      switch state.0 {
      case .ready(let connection):
        if connection.channel.isActive { return .use(connection) }
        fallthrough
      case .idle:
        let promise = self.group.any().makePromise(of: Connection.self)
        state.0 = .connecting(promise.futureResult)
        return .connect(promise)
      case .connecting(let future):
        return .wait(future)
      case .backingOff(let until, let error):
        if NIODeadline.now() < until {
          return .fail(error)
        }
        let promise = self.group.any().makePromise(of: Connection.self)
        state.0 = .connecting(promise.futureResult)
        return .connect(promise)
      case .shutDown:
        return .fail(RPCError(code: .unavailable, message: "The client transport is shut down"))
      }
    }
    switch next {
    case .use(let connection):
      return connection
    case .fail(let error):
      throw self.unavailable(error)
    case .wait(let future):
      do {
        return try await future.get()
      } catch {
        throw self.unavailable(error)
      }
    case .connect(let promise):
      do {
        let connection = try await self.makeConnection()
        self.state.withLockedValue { state in
          if case .shutDown = state.0 {
            connection.channel.close(promise: nil)
          } else {
            state = (.ready(connection), 0)
          }
        }
        promise.succeed(connection)
        return connection
      } catch {
        let retryAt: NIODeadline? = self.state.withLockedValue { state in
          guard case .connecting = state.0 else { return nil }
          let attempt = state.attempts
          let until = NIODeadline.now() + .nanoseconds(Int64(self.config.backoff.delay(attempt: attempt) * 1e9))
          state = (.backingOff(until: until, error: error), attempt + 1)
          return until
        }
        promise.fail(error)
        if let retryAt {
          // Retry in the background, so that the client is connected again as soon as it can be.
          self.group.any().scheduleTask(deadline: retryAt) { [weak self] in
            guard let self else { return }
            Task { _ = try? await self.connection() }
          }
        }
        throw self.unavailable(error)
      }
    }
  }

  private func unavailable(_ error: any Error) -> RPCError {
    if let error = error as? RPCError { return error }
    return RPCError(code: .unavailable, message: "Cannot connect to \(self.target): \(error)", cause: error)
  }

  /// The keepalive time new connections use.
  var currentKeepaliveTime: Duration? { self.keepaliveTime.withLockedValue { $0 } }

  private func makeConnection() async throws -> Connection {
    var adjusted = self.config
    if let time = self.currentKeepaliveTime { adjusted.connection.keepalive?.time = time }
    let config = adjusted
    let keepaliveTime = self.keepaliveTime
    let authority = self.target.authority
    let scheme = self.sslContext == nil ? "http" : "https"
    let sslContext = self.sslContext
    let serverHostname = self.config.tls?.serverHostname ?? self.target.host
    // Ready once the TLS handshake (if any) and the server's SETTINGS are through, within the
    // connect timeout. Watched from the initializer: the connection may fail before `connect`
    // returns.
    let established = self.group.any().makePromise(of: NIOLoopBound<ClientConnectionHandler>.self)
    let channel: any Channel
    do {
      channel = try await ClientBootstrap(group: self.group)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .connectTimeout(TimeAmount(config.connectTimeout))
        .channelInitializer { [weak self] channel in
          channel.eventLoop.makeCompletedFuture {
            let shutDown = self?.attempt.withLockedValue { attempt in
              if !attempt.shutDown { attempt.channel = channel }
              return attempt.shutDown
            }
            if shutDown ?? true { throw ConnectionError(reason: "the client transport is shut down") }
            let attempt = self?.attempt
            channel.closeFuture.whenComplete { _ in
              attempt?.withLockedValue { if $0.channel === channel { $0.channel = nil } }
            }
            if let sslContext {
              let hostname = serverHostname.first?.isNumber == true ? nil : serverHostname
              try channel.pipeline.syncOperations.addHandler(
                NIOSSLClientHandler(context: sslContext, serverHostname: hostname)
              )
            }
            let handler = ClientConnectionHandler(
              configuration: config,
              authority: authority,
              scheme: scheme,
              onClose: { [weak self] in self?.retire(channel) },
              onGoAway: { [weak self] tooManyPings in
                if tooManyPings { keepaliveTime.withLockedValue { time in time = time.map { $0 * 2 } } }
                self?.retire(channel)
              }
            )
            try channel.pipeline.syncOperations.addHandler(handler)
            let timeout = channel.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(config.connectTimeout)) {
              handler.close(reason: "no HTTP/2 SETTINGS from the server within \(config.connectTimeout)")
            }
            let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            handler.ready.whenComplete { result in
              timeout.cancel()
              established.completeWith(result.map { bound })
            }
          }
        }
        .connect(host: self.target.host, port: self.target.port)
        .get()
    } catch {
      established.fail(error)
      throw error
    }
    do {
      let handler = try await established.futureResult.get()
      // Established: from now on a shutdown closes it gracefully, as the current connection.
      self.attempt.withLockedValue { if $0.channel === channel { $0.channel = nil } }
      return Connection(channel: channel, handler: handler)
    } catch {
      channel.close(promise: nil)
      throw error
    }
  }

  /// Stops handing out the connection on `channel` (it closed, or the server sent GOAWAY): the next
  /// call opens a new one. Calls already on it run to their end.
  private func retire(_ channel: any Channel) {
    self.state.withLockedValue { state in
      if case .ready(let connection) = state.0, connection.channel === channel {
        state.0 = .idle
      }
    }
  }

  static let responseSize: @Sendable (RPCResponsePart<[UInt8]>) -> Int = { part in
    if case .message(let bytes) = part { return bytes.count }
    return 0
  }
}

extension NGHTTP2ClientTransport {
  /// The server to call.
  public struct Target: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
      self.host = host
      self.port = port
    }

    var authority: String { "\(self.host):\(self.port)" }
    public var description: String { self.authority }
  }
}
