/// How a gateway listens and what it accepts.
public struct GatewayConfiguration: Sendable {
  /// The address to bind: `127.0.0.1` by default.
  public var host: String
  /// The port to bind; 0 picks a free one (see `Gateway.run(onListening:)`).
  public var port: Int
  /// The largest request body accepted, in bytes; larger bodies get 413.
  public var maxBodySize: Int
  /// How often an idle Server-Sent Events stream gets a `: keep-alive` comment.
  public var keepAliveInterval: Duration
  /// How many stream messages may wait for a slow client before the stream ends with
  /// RESOURCE_EXHAUSTED.
  public var streamBufferLimit: Int
  /// Peers (IP addresses) whose `X-Forwarded-For` header is believed: the ingress proxies. A request
  /// from any other peer is attributed to the peer itself. Loopback by default, where the local
  /// stack's nginx runs.
  public var trustedProxies: Set<String>

  public init(
    host: String = "127.0.0.1",
    port: Int = 8080,
    maxBodySize: Int = 1 << 20,
    keepAliveInterval: Duration = .seconds(15),
    streamBufferLimit: Int = 1_000,
    trustedProxies: Set<String> = ["127.0.0.1", "::1"]
  ) {
    self.host = host
    self.port = port
    self.maxBodySize = maxBodySize
    self.keepAliveInterval = keepAliveInterval
    self.streamBufferLimit = streamBufferLimit
    self.trustedProxies = trustedProxies
  }

  public static var defaults: GatewayConfiguration { GatewayConfiguration() }
}
