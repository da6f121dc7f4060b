public import GRPCCore
public import NIOCore
internal import NIOConcurrencyHelpers
public import NIOPosix
internal import NIOSSL

/// A GRPCCore server transport: HTTP/2 by libnghttp2 over SwiftNIO sockets, h2c with prior
/// knowledge or TLS with ALPN `h2`.
///
/// ```swift
/// let transport = NGHTTP2ServerTransport(address: .init(host: "127.0.0.1", port: 0))
/// let server = GRPCServer(transport: transport, services: [MyService()])
/// try await server.serve()
/// ```
public final class NGHTTP2ServerTransport: ServerTransport, Sendable {
  public typealias Bytes = [UInt8]

  private enum State {
    case idle
    case listening(any Channel, connections: [ObjectIdentifier: (any Channel, NIOLoopBound<ServerConnectionHandler>)])
    case stopped
  }

  private let address: Address
  private let config: Config
  private let group: any EventLoopGroup
  private let state = NIOLockedValueBox<State>(.idle)
  private let shutdownRequested = NIOLockedValueBox(false)
  private let addressPromise: EventLoopPromise<SocketAddress>
  private let allClosed = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

  /// - Parameters:
  ///   - address: Where to listen; port 0 picks a free port (see ``listeningAddress``).
  ///   - config: Limits, HTTP/2 settings, keepalive, TLS.
  ///   - eventLoopGroup: The loops that run the sockets.
  public init(
    address: Address,
    config: Config = .defaults,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) {
    self.address = address
    self.config = config
    self.group = eventLoopGroup
    self.addressPromise = eventLoopGroup.any().makePromise()
  }

  /// The address the server is bound to, once it listens.
  public var listeningAddress: Address {
    get async throws {
      let address = try await self.addressPromise.futureResult.get()
      return Address(host: address.ipAddress ?? self.address.host, port: address.port ?? 0)
    }
  }

  public func listen(
    streamHandler: @escaping @Sendable (
      _ stream: RPCStream<Inbound, Outbound>,
      _ context: ServerContext
    ) async -> Void
  ) async throws {
    let (accepted, continuation) = AsyncStream.makeStream(of: AcceptedStream.self)
    let handlers = HandlerTasks()
    let execution = self.config.handlerExecution
    let sslContext: NIOSSLContext?
    do {
      sslContext = try self.config.tls.map { tls in
        var configuration = tls.configuration
        configuration.applicationProtocols = ["h2"]
        return try NIOSSLContext(configuration: configuration)
      }
    } catch {
      self.addressPromise.fail(error)
      throw error
    }

    self.allClosed.withLockedValue { $0 = { continuation.finish() } }
    let config = self.config
    let bootstrap = ServerBootstrap(group: self.group)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { [weak self] channel in
        channel.eventLoop.makeCompletedFuture {
          let executor = EventLoopTaskExecutor(channel.eventLoop)
          let handler = ServerConnectionHandler(
            configuration: config,
            accept: { stream in
              if execution == .eventLoop || (execution == .adaptive && stream.alone) {
                handlers.start(on: executor) { await streamHandler(stream.stream, stream.context) }
              } else {
                continuation.yield(stream)
              }
            }
          )
          if let sslContext {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
          }
          try channel.pipeline.syncOperations.addHandler(handler)
          self?.connectionOpened(channel, handler: handler)
        }
      }

    let channel: any Channel
    do {
      channel = try await bootstrap.bind(host: self.address.host, port: self.address.port).get()
    } catch {
      self.addressPromise.fail(error)
      continuation.finish()
      throw RPCError(code: .unavailable, message: "Could not listen on \(self.address)", cause: error)
    }
    let proceed: Bool = self.state.withLockedValue { state in
      guard case .idle = state else { return false }
      state = .listening(channel, connections: [:])
      return true
    }
    guard proceed else {
      try? await channel.close()
      continuation.finish()
      return
    }
    if let local = channel.localAddress {
      self.addressPromise.succeed(local)
    }
    if self.shutdownRequested.withLockedValue({ $0 }) {
      self.beginGracefulShutdown()
    }
    channel.closeFuture.whenComplete { [weak self] _ in self?.listenerClosed() }

    await withTaskCancellationHandler {
      await withDiscardingTaskGroup { group in
        for await stream in accepted {
          group.addTask {
            await streamHandler(stream.stream, stream.context)
          }
        }
      }
      await handlers.waitForAll()
    } onCancel: {
      handlers.cancelAll()
    }
  }


  private func connectionOpened(_ channel: any Channel, handler: ServerConnectionHandler) {
    let accepted: Bool = self.state.withLockedValue { state in
      guard case .listening(let listener, var connections) = state else { return false }
      connections[ObjectIdentifier(channel)] = (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
      state = .listening(listener, connections: connections)
      return true
    }
    // By the channel's close, not its handler's channelInactive: a connection accepted as the
    // listener closes can be closed before it was ever active, and would otherwise stay counted
    // and hold the shutdown until the grace period ends.
    channel.closeFuture.whenComplete { [weak self] _ in self?.connectionClosed(channel) }
    if !accepted {
      channel.close(promise: nil)
    } else if self.shutdownRequested.withLockedValue({ $0 }) {
      let grace = self.config.connection.shutdownGracePeriod
      handler.beginGracefulShutdown(gracePeriod: grace)
    }
  }

  private func connectionClosed(_ channel: any Channel) {
    let finished: Bool = self.state.withLockedValue { state in
      guard case .listening(let listener, var connections) = state else { return false }
      connections[ObjectIdentifier(channel)] = nil
      state = .listening(listener, connections: connections)
      if connections.isEmpty && !listener.isActive && self.shutdownRequested.withLockedValue({ $0 }) {
        state = .stopped
        return true
      }
      return false
    }
    if finished { self.allClosed.withLockedValue { $0 }?() }
  }

  private func listenerClosed() {
    let finished: Bool = self.state.withLockedValue { state in
      guard case .listening(_, let connections) = state else { return false }
      if connections.isEmpty {
        state = .stopped
        return true
      }
      return false
    }
    if finished { self.allClosed.withLockedValue { $0 }?() }
  }

  /// Stops accepting connections, sends GOAWAY on every connection, lets in-flight RPCs finish
  /// within the grace period, then closes.
  public func beginGracefulShutdown() {
    self.shutdownRequested.withLockedValue { $0 = true }
    let (listener, connections): ((any Channel)?, [(any Channel, NIOLoopBound<ServerConnectionHandler>)]) =
      self.state.withLockedValue { state in
        switch state {
        case .listening(let listener, let connections):
          return (listener, Array(connections.values))
        case .idle, .stopped:
          return (nil, [])
        }
      }
    listener?.close(promise: nil)
    let grace = self.config.connection.shutdownGracePeriod
    for (channel, bound) in connections {
      channel.eventLoop.execute { bound.value.beginGracefulShutdown(gracePeriod: grace) }
    }
  }
}

extension NGHTTP2ServerTransport {
  /// A host and port.
  public struct Address: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
      self.host = host
      self.port = port
    }

    public var description: String { "\(self.host):\(self.port)" }
  }
}
