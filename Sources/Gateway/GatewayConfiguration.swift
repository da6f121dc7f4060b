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

  public init(
    host: String = "127.0.0.1",
    port: Int = 8080,
    maxBodySize: Int = 1 << 20,
    keepAliveInterval: Duration = .seconds(15),
    streamBufferLimit: Int = 1_000
  ) {
    self.host = host
    self.port = port
    self.maxBodySize = maxBodySize
    self.keepAliveInterval = keepAliveInterval
    self.streamBufferLimit = streamBufferLimit
  }

  public static var defaults: GatewayConfiguration { GatewayConfiguration() }
}
