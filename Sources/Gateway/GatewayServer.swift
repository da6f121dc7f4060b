import HTTPTypes
public import Hummingbird
import Logging
import NIOCore

/// Serves a `GatewayCore` over HTTP/1.1 with Hummingbird. `run()` returns after a graceful shutdown
/// (SIGTERM or SIGINT through swift-service-lifecycle, or cancellation of the calling task).
public struct GatewayServer: Sendable {
  public let core: GatewayCore

  public init(core: GatewayCore) {
    self.core = core
  }

  /// Binds and serves until shut down. `onListening` gets the bound port (useful with port 0).
  public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
    try await application(onListening: onListening).runService()
  }

  /// The Hummingbird application, for callers that run it in their own service group.
  public func application(
    onListening: @escaping @Sendable (Int) async -> Void = { _ in }
  ) -> some ApplicationProtocol {
    let configuration = core.configuration
    return Application(
      responder: GatewayResponder(core: core),
      configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port)),
      onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
      logger: core.logger
    )
  }
}

/// Adapts Hummingbird requests and responses to `GatewayCore`.
struct GatewayResponder: HTTPResponder {
  typealias Context = GatewayRequestContext
  let core: GatewayCore

  func respond(to request: Request, context: GatewayRequestContext) async throws -> Response {
    let limit = core.configuration.maxBodySize
    if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
      return Self.response(GatewayCore.error(ErrorBody(code: "RESOURCE_EXHAUSTED", message: "the request body is over \(limit) bytes", status: 413)))
    }
    var request = request
    var body = ByteBuffer()
    // HTTP/1.1: without Content-Length or Transfer-Encoding a request has no body to read.
    if request.headers[.contentLength] != nil || request.headers[.transferEncoding] != nil {
      do {
        body = try await request.collectBody(upTo: limit)
      } catch {
        return Self.response(GatewayCore.error(ErrorBody(code: "RESOURCE_EXHAUSTED", message: "the request body is over \(limit) bytes", status: 413)))
      }
    }
    var headers: [(name: String, value: String)] = []
    headers.reserveCapacity(request.headers.count)
    for field in request.headers {
      headers.append((field.name.canonicalName, field.value))
    }
    let gatewayRequest = GatewayRequest(
      method: request.method.rawValue,
      target: request.head.path ?? "/",
      headers: headers,
      body: Array(body.readableBytesView),
      remotePeer: Self.peer(context.remoteAddress)
    )
    let response = await core.respond(to: gatewayRequest)
    return Self.response(response, keepAlive: core.configuration.keepAliveInterval)
  }

  /// The connection's peer in gRPC's notation (`ipv4:127.0.0.1:5000`), or empty.
  static func peer(_ address: SocketAddress?) -> String {
    guard let address, let ip = address.ipAddress else { return "" }
    let port = address.port.map { ":\($0)" } ?? ""
    switch address.protocol {
    case .inet6: return "ipv6:[\(ip)]" + port
    default: return "ipv4:" + ip + port
    }
  }

  static func response(_ response: GatewayResponse, keepAlive: Duration = .seconds(15)) -> Response {
    var fields = HTTPFields()
    for (name, value) in response.headers {
      if let name = Self.knownNames[name] ?? HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
    }
    let status = HTTPResponse.Status(code: response.status)
    switch response.body {
    case .bytes(let bytes):
      return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    case .events(let events):
      let body = ResponseBody { writer in
        try await writer.write(ByteBuffer(string: ": stream open\n\n"))
        for try await chunk in withKeepAlive(events, interval: keepAlive) {
          try await writer.write(ByteBuffer(bytes: chunk))
        }
        try await writer.finish(nil)
      }
      return Response(status: status, headers: fields, body: body)
    }
  }

  /// The gateway's own header names, parsed once.
  static let knownNames: [String: HTTPField.Name] = [
    "Content-Type": .contentType,
    "X-Request-Id": HTTPField.Name("X-Request-Id")!,
    "Cache-Control": .cacheControl,
    "X-Accel-Buffering": HTTPField.Name("X-Accel-Buffering")!,
    "WWW-Authenticate": .wwwAuthenticate,
    "Allow": .allow,
    "Retry-After": .retryAfter,
  ]

  /// Interleaves `: keep-alive` comments into an idle event stream.
  static func withKeepAlive(
    _ events: AsyncThrowingStream<[UInt8], any Error>,
    interval: Duration
  ) -> AsyncThrowingStream<[UInt8], any Error> {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: (any Error).self)
    let pump = Task {
      do {
        for try await chunk in events { continuation.yield(chunk) }
        continuation.finish()
      } catch {
        continuation.finish(throwing: error)
      }
    }
    let ticker = Task {
      while !Task.isCancelled {
        try? await Task.sleep(for: interval)
        if Task.isCancelled { break }
        if case .terminated = continuation.yield(Array(": keep-alive\n\n".utf8)) { break }
      }
    }
    continuation.onTermination = { _ in
      pump.cancel()
      ticker.cancel()
    }
    return stream
  }
}

/// Hummingbird's request context plus the connection's peer address, which the gateway needs to
/// tell clients apart (rate limits, logs).
struct GatewayRequestContext: RequestContext {
  var coreContext: CoreRequestContextStorage
  /// The peer of the connection the request came on.
  let remoteAddress: SocketAddress?

  init(source: ApplicationRequestContextSource) {
    self.coreContext = .init(source: source)
    self.remoteAddress = source.channel.remoteAddress
  }
}
