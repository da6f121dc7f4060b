public import Logging

/// The listening side every service shares, read from the environment:
///
/// | variable | default |
/// | --- | --- |
/// | `<PREFIX>_GRPC_HOST` | `127.0.0.1` |
/// | `<PREFIX>_GRPC_PORT` | the service's default (0 picks a free port) |
/// | `<PREFIX>_HTTP_HOST` | `127.0.0.1` |
/// | `<PREFIX>_HTTP_PORT` | the service's default (0 picks a free port) |
/// | `<PREFIX>_SHUTDOWN_GRACE` | `10s` |
/// | `LOG_LEVEL` | `info` |
/// | `COURIER_IDENTITY_ADDRESS` | unset: no identity service, every token is rejected |
public struct ServerSettings: Sendable {
  public var grpcHost: String
  public var grpcPort: Int
  public var httpHost: String
  public var httpPort: Int
  /// How long in-flight calls get to finish after a shutdown starts.
  public var shutdownGrace: Duration
  public var logLevel: Logger.Level
  /// `host:port` of Asgardian's gRPC server; validated when read.
  public var identityAddress: String?

  /// - Parameter prefix: the service's variable prefix without the underscore: `IRIS`.
  public init(
    prefix: String,
    defaultGRPCPort: Int,
    defaultHTTPPort: Int,
    environment: ServiceEnvironment
  ) throws(ConfigurationError) {
    grpcHost = environment.string("\(prefix)_GRPC_HOST", default: "127.0.0.1", "The address the gRPC server binds.")
    grpcPort = try environment.int(
      "\(prefix)_GRPC_PORT", default: defaultGRPCPort, in: 0...65_535, "The gRPC port; 0 picks a free one.")
    httpHost = environment.string("\(prefix)_HTTP_HOST", default: "127.0.0.1", "The address the HTTP server (REST, /metrics) binds.")
    httpPort = try environment.int(
      "\(prefix)_HTTP_PORT", default: defaultHTTPPort, in: 0...65_535, "The HTTP port; 0 picks a free one.")
    shutdownGrace = try environment.duration(
      "\(prefix)_SHUTDOWN_GRACE", default: .seconds(10), "How long in-flight calls may run after SIGTERM.")
    let level = environment.string(
      "LOG_LEVEL", default: "info", "The lowest log level written: trace, debug, info, notice, warning, error, critical.")
    guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
      throw ConfigurationError(
        variable: "LOG_LEVEL", message: "must be one of trace, debug, info, notice, warning, error, critical, got '\(level)'")
    }
    logLevel = parsed
    identityAddress = environment.optionalString(
      "COURIER_IDENTITY_ADDRESS", "host:port of Asgardian's gRPC server; unset: every bearer token is rejected.")
    if let identityAddress {
      _ = try ServiceEnvironment.parseAddress(identityAddress, variable: "COURIER_IDENTITY_ADDRESS")
    }
  }
}
