import NIOCore
import NIOPosix
import Synchronization

/// A TCP listener on loopback that plays a broken server: it records when each connection
/// arrives and then closes it at once, says nothing, or sends fixed bytes and falls silent.
final class ScriptedListener: Sendable {
  enum Behavior: Sendable {
    /// Accept and close: the client's connection attempt fails after TCP.
    case close
    /// Accept and never send a byte.
    case silent
    /// Send these bytes (an HTTP/2 SETTINGS frame, say), then never send again.
    case sendThenSilent([UInt8])
  }

  /// An empty SETTINGS frame: enough for a client to consider the HTTP/2 connection established.
  static let emptySettingsFrame: [UInt8] = [0, 0, 0, 4, 0, 0, 0, 0, 0]

  let port: Int
  private let channel: any Channel
  private let accepted: AcceptLog

  private init(port: Int, channel: any Channel, accepted: AcceptLog) {
    self.port = port
    self.channel = channel
    self.accepted = accepted
  }

  /// The times connections arrived, in order.
  var acceptTimes: [ContinuousClock.Instant] {
    self.accepted.times.withLock { $0 }
  }

  static func start(_ behavior: Behavior, port: Int = 0) async throws -> ScriptedListener {
    let accepted = AcceptLog()
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        accepted.times.withLock { $0.append(.now) }
        switch behavior {
        case .close:
          return channel.close()
        case .silent:
          return channel.eventLoop.makeSucceededVoidFuture()
        case .sendThenSilent(let bytes):
          return channel.writeAndFlush(ByteBuffer(bytes: bytes))
        }
      }
      .bind(host: "127.0.0.1", port: port)
      .get()
    return ScriptedListener(port: channel.localAddress!.port!, channel: channel, accepted: accepted)
  }

  /// Stops listening; connections already accepted stay as they are until their peer leaves.
  func stop() async throws {
    try await self.channel.close()
  }

  private final class AcceptLog: Sendable {
    let times = Mutex<[ContinuousClock.Instant]>([])
  }
}
