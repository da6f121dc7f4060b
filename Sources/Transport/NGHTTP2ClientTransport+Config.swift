public import GRPCCore
public import NIOSSL

extension NGHTTP2ClientTransport {
  /// Client transport configuration. Start from ``defaults`` and change what you need.
  public struct Config: Sendable {
    public var rpc: RPC
    public var http2: HTTP2
    public var connection: Connection
    public var backoff: Backoff
    public var compression: Compression
    /// How long one connection attempt may take: TCP, TLS and the server's HTTP/2 SETTINGS.
    public var connectTimeout: Duration
    /// Method configs (timeouts, retries, hedging) and retry throttling, used by GRPCCore.
    public var serviceConfig: ServiceConfig
    public var userAgent: String
    /// TLS with ALPN `h2`; `nil` uses h2c with prior knowledge.
    public var tls: TLS?

    public static var defaults: Self {
      Self(
        rpc: .defaults,
        http2: .defaults,
        connection: .defaults,
        backoff: .defaults,
        compression: .defaults,
        connectTimeout: .seconds(20),
        serviceConfig: ServiceConfig(),
        userAgent: "grpc-swift-courier-nghttp2/1.0",
        tls: nil
      )
    }

    /// Per-RPC limits.
    public struct RPC: Sendable {
      /// The largest response message accepted; larger ones end the RPC with RESOURCE_EXHAUSTED.
      public var maxResponsePayloadSize: Int

      public static var defaults: Self { Self(maxResponsePayloadSize: 4 * 1024 * 1024) }
    }

    /// HTTP/2 settings.
    public struct HTTP2: Sendable {
      /// The flow control window of each stream and of the connection, and the most bytes the
      /// transport buffers per stream in each direction.
      public var targetWindowSize: Int
      /// SETTINGS_MAX_HEADER_LIST_SIZE.
      public var maxHeaderListSize: Int

      public static var defaults: Self {
        Self(targetWindowSize: 1024 * 1024, maxHeaderListSize: 16 * 1024)
      }
    }

    /// Connection management.
    public struct Connection: Sendable {
      /// Keepalive pings; `nil`: none. A server that closes a connection for too many PINGs
      /// (GOAWAY ENHANCE_YOUR_CALM, `too_many_pings`) doubles the time for later connections.
      public var keepalive: NGHTTP2ServerTransport.Config.Keepalive?

      public static var defaults: Self { Self(keepalive: nil) }
    }

    /// Message compression (`grpc-encoding`).
    public struct Compression: Sendable {
      /// How request messages are compressed unless a call's `CallOptions.compression` says
      /// otherwise; `.none`: not at all.
      public var algorithm: CompressionAlgorithm
      /// Response encodings accepted besides identity (sent in `grpc-accept-encoding`).
      /// Compressed responses are decompressed up to `rpc.maxResponsePayloadSize`.
      public var enabledAlgorithms: CompressionAlgorithmSet
      /// Request messages smaller than this many bytes go out uncompressed (gRPC flags each
      /// message). 0: compress all.
      public var minimumMessageSize: Int = 0

      public static var defaults: Self { Self(algorithm: .none, enabledAlgorithms: [.gzip, .deflate]) }
    }

    /// Exponential backoff between failed connection attempts (grpc doc/connection-backoff.md):
    /// the n-th retry waits `min(initial * multiplier^(n-1), maximum)`, randomized by ±`jitter`.
    public struct Backoff: Sendable {
      public var initial: Duration
      public var maximum: Duration
      public var multiplier: Double
      /// The fraction by which each delay is randomized, so that clients do not retry in lockstep.
      public var jitter: Double

      public static var defaults: Self {
        Self(initial: .seconds(1), maximum: .seconds(120), multiplier: 1.6, jitter: 0.2)
      }

      /// The delay in seconds after `attempt` earlier failures in a row.
      func delay(attempt: Int) -> Double {
        let maximum = self.maximum.inSeconds
        var delay = self.initial.inSeconds
        for _ in 0..<attempt where delay < maximum { delay *= self.multiplier }
        delay = min(delay, maximum)
        if self.jitter > 0 { delay *= 1 + Double.random(in: -self.jitter...self.jitter) }
        return max(delay, 0)
      }
    }

    /// TLS: a swift-nio-ssl configuration; ALPN is set to `h2`.
    public struct TLS: Sendable {
      public var configuration: TLSConfiguration
      /// The name to verify the server's certificate against; the target host if `nil`.
      public var serverHostname: String?

      public init(configuration: TLSConfiguration, serverHostname: String? = nil) {
        self.configuration = configuration
        self.serverHostname = serverHostname
      }
    }
  }
}

extension Duration {
  /// The duration in seconds.
  var inSeconds: Double {
    Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
  }
}
