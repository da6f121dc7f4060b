public import GRPCCore
public import NIOSSL

extension NGHTTP2ServerTransport {
  /// Server transport configuration. Start from ``defaults`` and change what you need.
  public struct Config: Sendable {
    public var rpc: RPC
    public var http2: HTTP2
    public var connection: Connection
    public var compression: Compression
    /// TLS with ALPN `h2`; `nil` serves h2c with prior knowledge.
    public var tls: TLS?
    /// Where stream handlers run.
    public var handlerExecution: HandlerExecution = .adaptive

    public static var defaults: Self {
      Self(rpc: .defaults, http2: .defaults, connection: .defaults, compression: .defaults, tls: nil)
    }

    /// Where a stream's handler runs.
    ///
    /// On the event loop there is no thread hand-over between reading a request, running the
    /// handler and writing its answer (waking a pool thread, then the loop again: about a
    /// quarter of the server's perf samples at one call at a time). But one loop is one
    /// thread: the handlers of a connection that carries many streams at once (a service
    /// calling another over one multiplexed connection) would share one core. A handler that
    /// computes for long (password hashing, say) should move that work off the loop in any
    /// case, since the loop's other connections wait meanwhile; what a handler awaits (a
    /// database, another RPC) does not hold the loop.
    public enum HandlerExecution: Sendable, Hashable {
      /// On the connection's event loop when the stream is the connection's only open one, on
      /// Swift's global concurrent executor otherwise.
      case adaptive
      /// Always on the connection's event loop.
      case eventLoop
      /// Always on Swift's global concurrent executor, as tasks of the transport's task group.
      case globalExecutor
    }

    /// Message compression (`grpc-encoding`).
    public struct Compression: Sendable {
      /// Request encodings accepted besides identity; a request in another one is UNIMPLEMENTED
      /// and its answer lists these in `grpc-accept-encoding`. Compressed requests are
      /// decompressed up to `rpc.maxRequestPayloadSize` (more is RESOURCE_EXHAUSTED).
      public var enabledAlgorithms: CompressionAlgorithmSet
      /// Compress response messages with this when the request's `grpc-accept-encoding` lists
      /// it; `.none`: never compress.
      public var responseAlgorithm: CompressionAlgorithm
      /// Response messages smaller than this many bytes go out uncompressed (gRPC flags each
      /// message), where gzip's 18 bytes of framing outweigh what it saves. 0: compress all.
      public var minimumMessageSize: Int = 0

      public static var defaults: Self { Self(enabledAlgorithms: [.gzip, .deflate], responseAlgorithm: .none) }
    }

    /// Per-RPC limits.
    public struct RPC: Sendable {
      /// The largest request message accepted; larger ones end the RPC with RESOURCE_EXHAUSTED.
      public var maxRequestPayloadSize: Int

      public static var defaults: Self { Self(maxRequestPayloadSize: 4 * 1024 * 1024) }
    }

    /// HTTP/2 settings.
    public struct HTTP2: Sendable {
      /// SETTINGS_MAX_CONCURRENT_STREAMS: streams beyond it are refused.
      public var maxConcurrentStreams: Int
      /// The flow control window of each stream and of the connection, and the most bytes the
      /// transport buffers per stream in each direction.
      public var targetWindowSize: Int
      /// SETTINGS_MAX_HEADER_LIST_SIZE: a larger header block resets the stream.
      public var maxHeaderListSize: Int

      public static var defaults: Self {
        Self(maxConcurrentStreams: 256, targetWindowSize: 1024 * 1024, maxHeaderListSize: 16 * 1024)
      }
    }

    /// Connection management.
    public struct Connection: Sendable {
      /// Close a connection that had no open stream for this long (GOAWAY first); `nil`: never.
      public var maxIdleTime: Duration?
      /// Keepalive pings; `nil`: none.
      public var keepalive: Keepalive?
      /// How long in-flight RPCs get to finish after a graceful shutdown starts; `nil`: no limit.
      public var shutdownGracePeriod: Duration?
      /// How often clients may PING (gRPC's keepalive enforcement).
      public var clientPings: ClientPings = .defaults

      public static var defaults: Self {
        Self(maxIdleTime: nil, keepalive: nil, shutdownGracePeriod: .seconds(10))
      }
    }

    /// How often a client may PING, as gRPC servers enforce it. A PING that comes sooner than
    /// allowed after the last one is a strike; the third strike gets GOAWAY with
    /// ENHANCE_YOUR_CALM and `too_many_pings` as its debug data, and the connection is closed.
    /// Sending response HEADERS or DATA clears the strikes, as in gRPC's own servers, so clients
    /// that probe bandwidth with PINGs while they receive are never struck.
    public struct ClientPings: Sendable {
      /// The shortest time between two PINGs while the connection has open streams.
      public var minimumInterval: Duration
      /// Whether that also holds without open streams; otherwise one PING per two hours is allowed.
      public var allowedWithoutCalls: Bool

      public init(minimumInterval: Duration, allowedWithoutCalls: Bool) {
        self.minimumInterval = minimumInterval
        self.allowedWithoutCalls = allowedWithoutCalls
      }

      /// gRPC's defaults: five minutes, not without calls.
      public static var defaults: Self { Self(minimumInterval: .seconds(300), allowedWithoutCalls: false) }

      /// The interval a connection without open streams may PING at when not allowed otherwise.
      static let withoutCallsInterval: Duration = .seconds(7200)
      /// Strikes tolerated before the connection is closed.
      static let maxStrikes = 2
    }

    /// Keepalive: PING once nothing was read from the peer for `time`, and close the connection
    /// if no ACK comes within `timeout`. A connection that keeps receiving is never pinged.
    public struct Keepalive: Sendable {
      public var time: Duration
      public var timeout: Duration

      public init(time: Duration, timeout: Duration) {
        self.time = time
        self.timeout = timeout
      }

      public static var defaults: Self { Self(time: .seconds(7200), timeout: .seconds(20)) }
    }

    /// TLS: a swift-nio-ssl configuration; ALPN is set to `h2`.
    public struct TLS: Sendable {
      public var configuration: TLSConfiguration

      public init(configuration: TLSConfiguration) {
        self.configuration = configuration
      }
    }
  }
}
