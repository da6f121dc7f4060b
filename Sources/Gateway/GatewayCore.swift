public import ContractRuntime
import Foundation
import GRPCCore
public import Logging
import Metrics

/// One HTTP request as the gateway sees it, free of any server framework's types.
public struct GatewayRequest: Sendable {
  public var method: String
  /// The request target: path and optional query (`/tracking/payload?x=1`).
  public var target: String
  /// Header fields; names compare case-insensitively.
  public var headers: [(name: String, value: String)]
  public var body: [UInt8]
  public var remotePeer: String
  public var localPeer: String

  public init(
    method: String,
    target: String,
    headers: [(name: String, value: String)] = [],
    body: [UInt8] = [],
    remotePeer: String = "",
    localPeer: String = ""
  ) {
    self.method = method
    self.target = target
    self.headers = headers
    self.body = body
    self.remotePeer = remotePeer
    self.localPeer = localPeer
  }

  /// The first value of a header; `name` must be lowercase.
  public func header(_ name: String) -> String? {
    headers.first { Self.equalsLowercase($0.name, name) }?.value
  }

  /// ASCII case-insensitive comparison against an already lowercase name, without allocating.
  static func equalsLowercase(_ candidate: String, _ lowercase: String) -> Bool {
    var left = candidate.utf8.makeIterator()
    var right = lowercase.utf8.makeIterator()
    while true {
      switch (left.next(), right.next()) {
      case (nil, nil): return true
      case (let a?, let b?):
        let folded = (a >= 0x41 && a <= 0x5A) ? a + 0x20 : a
        if folded != b { return false }
      default: return false
      }
    }
  }
}

/// Logs one request's lines with its request id, building metadata only for lines that are written.
struct RequestLogger: Sendable {
  let logger: Logger
  let requestID: String

  func info(_ message: @autoclosure () -> Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
    log(.info, message(), metadata())
  }

  func warning(_ message: @autoclosure () -> Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
    log(.warning, message(), metadata())
  }

  func error(_ message: @autoclosure () -> Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
    log(.error, message(), metadata())
  }

  private func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
    guard logger.logLevel <= level else { return }
    var all = metadata()
    all["request_id"] = .string(requestID)
    logger.log(level: level, message(), metadata: all)
  }
}

/// The gateway's answer.
public struct GatewayResponse: Sendable {
  public enum Body: Sendable {
    case bytes([UInt8])
    /// Server-Sent Events, already framed (`data: {...}\n\n`); the server adds keep-alives.
    case events(AsyncThrowingStream<[UInt8], any Error>)
  }

  public var status: Int
  public var headers: [(name: String, value: String)]
  public var body: Body

  public init(status: Int, headers: [(name: String, value: String)], body: Body) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  /// The first value of a header; `name` must be lowercase.
  public func header(_ name: String) -> String? {
    headers.first { GatewayRequest.equalsLowercase($0.name, name) }?.value
  }

  /// The body bytes of a non-streaming response.
  public var bytes: [UInt8] {
    if case .bytes(let bytes) = body { return bytes }
    return []
  }
}

/// A built-in GET endpoint served next to the routes (`/metrics`, for instance).
public typealias GatewayEndpoint = @Sendable (GatewayRequest) async -> GatewayResponse

/// Everything the gateway does between bytes in and bytes out: built-in endpoints, routing, auth,
/// request ids, calling the generated adapter, error mapping and SSE framing. No sockets here.
public struct GatewayCore: Sendable {
  public let table: RouteTable
  public let authenticator: any Authenticator
  public let configuration: GatewayConfiguration
  public let logger: Logger
  private let readiness: @Sendable () async -> Bool
  private let openAPIDocument: [UInt8]
  private let endpoints: [String: GatewayEndpoint]
  private let deviceEndpoints: [String: GatewayEndpoint]

  /// - Parameters:
  ///   - routes: the generated routes of every mounted service (`<Service>_REST.routes(for:)`).
  ///   - openAPIDocuments: the mounted services' documents (`<Service>_REST.openAPIDocument`);
  ///     `/openapi.json` serves them merged into one.
  ///   - readiness: answers `/readyz`; true when the service can take traffic.
  ///   - endpoints: extra GET endpoints by exact path (`/metrics`), served before the routes and
  ///     without authentication; the built-in paths win over them.
  ///   - deviceEndpoints: endpoints by exact path for every method, for devices that speak a protocol
  ///     of their own (Hermes' OsmAnd endpoint): served before the routes, without authentication
  ///     (the endpoint checks its own credentials), with the body limit, and logged by path only
  ///     because their query may carry a credential.
  /// - Throws: `GatewaySetupError` when two routes conflict.
  public init(
    routes: [RESTRoute],
    openAPIDocuments: [String],
    authenticator: any Authenticator,
    configuration: GatewayConfiguration = .defaults,
    logger: Logger = Logger(label: "courier.gateway"),
    readiness: @escaping @Sendable () async -> Bool = { true },
    endpoints: [String: GatewayEndpoint] = [:],
    deviceEndpoints: [String: GatewayEndpoint] = [:]
  ) throws(GatewaySetupError) {
    self.table = try RouteTable(routes: routes)
    self.authenticator = authenticator
    self.configuration = configuration
    self.logger = logger
    self.readiness = readiness
    self.openAPIDocument = Array(Self.merge(openAPIDocuments).utf8)
    self.endpoints = endpoints
    self.deviceEndpoints = deviceEndpoints
  }

  /// Answers one request. Counts it in `http_requests_total{route,method,status}` and times it in
  /// `http_request_duration_seconds{route,method}` (swift-metrics; for a stream, until its head is
  /// ready). `route` is the matched path template, the built-in path, or `unmatched`.
  public func respond(to request: GatewayRequest) async -> GatewayResponse {
    let started = ContinuousClock.now
    let requestID = Self.requestID(from: request.header("x-request-id"))
    let logger = RequestLogger(logger: self.logger, requestID: requestID)
    let (response, route) = await handle(request, requestID: requestID, logger: logger)
    let (path, _) = Self.split(target: request.target)
    let target = deviceEndpoints[path] == nil ? request.target : path
    logger.info(
      "request",
      ["method": .string(request.method), "target": .string(target), "status": .stringConvertible(response.status)]
    )
    let method = Self.metricMethod(request.method)
    Counter(label: "http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(response.status))])
      .increment()
    let elapsed = (ContinuousClock.now - started).components
    Metrics.Timer(label: "http_request_duration_seconds", dimensions: [("route", route), ("method", method)])
      .recordNanoseconds(elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000)
    var headers = response.headers
    headers.append(("X-Request-Id", requestID))
    return GatewayResponse(status: response.status, headers: headers, body: response.body)
  }

  /// The method as a metric label: the standard verbs, anything else as `OTHER` (bounded cardinality).
  static func metricMethod(_ method: String) -> String {
    switch method {
    case "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS": return method
    default: return "OTHER"
    }
  }

  /// The response and the route label for the metrics.
  private func handle(_ request: GatewayRequest, requestID: String, logger: RequestLogger) async -> (GatewayResponse, String) {
    let (path, rawQuery) = Self.split(target: request.target)
    if request.method == "GET", ["/healthz", "/readyz", "/openapi.json"].contains(path) || endpoints[path] != nil {
      return (await builtIn(path: path, request: request), path)
    }
    if let endpoint = deviceEndpoints[path] {
      if request.body.count > configuration.maxBodySize {
        return (Self.error(ErrorBody(code: "RESOURCE_EXHAUSTED", message: "the request body is over \(configuration.maxBodySize) bytes", status: 413)), path)
      }
      let context = CallContext(caller: nil, requestID: requestID, clientAddress: clientAddress(of: request))
      return (await CallContext.$current.withValue(context) { await endpoint(request) }, path)
    }
    var label = "unmatched"
    let response = await route(request, path: path, rawQuery: rawQuery, requestID: requestID, logger: logger, label: &label)
    return (response, label)
  }

  private func builtIn(path: String, request: GatewayRequest) async -> GatewayResponse {
    switch path {
    case "/healthz": return Self.json(200, Array(#"{"status":"ok"}"#.utf8))
    case "/readyz":
      return await readiness()
        ? Self.json(200, Array(#"{"status":"ready"}"#.utf8))
        : Self.error(ErrorBody(code: "UNAVAILABLE", message: "not ready"))
    case "/openapi.json": return Self.json(200, openAPIDocument)
    default:
      guard let endpoint = endpoints[path] else { return Self.error(ErrorBody(code: "NOT_FOUND", message: "no route for GET \(path)")) }
      return await endpoint(request)
    }
  }

  private func route(
    _ request: GatewayRequest,
    path: String,
    rawQuery: Substring,
    requestID: String,
    logger: RequestLogger,
    label: inout String
  ) async -> GatewayResponse {
    if request.body.count > configuration.maxBodySize {
      return Self.error(ErrorBody(code: "RESOURCE_EXHAUSTED", message: "the request body is over \(configuration.maxBodySize) bytes", status: 413))
    }

    let route: RESTRoute
    let pathValues: [String: String]
    switch table.match(method: request.method, path: path) {
    case .route(let found, let values):
      route = found
      pathValues = values
      label = found.spec.http.pathTemplate
    case .missingVariable(let field):
      return Self.error(.badRequest(RESTBindingError(field: field, reason: "the path variable is missing")))
    case .methodNotAllowed(let allowed):
      var response = Self.error(
        ErrorBody(code: "UNIMPLEMENTED", message: "\(request.method) is not allowed here; use \(allowed.joined(separator: ", "))", status: 405)
      )
      response.headers.append(("Allow", allowed.joined(separator: ", ")))
      return response
    case .notFound:
      return Self.error(ErrorBody(code: "NOT_FOUND", message: "no route for \(request.method) \(path)"))
    case .malformedPath(let reason):
      return Self.error(ErrorBody(code: "INVALID_ARGUMENT", message: reason))
    }

    guard let query = Self.parse(query: rawQuery) else {
      return Self.error(ErrorBody(code: "INVALID_ARGUMENT", message: "the query string has a malformed percent-encoding"))
    }
    if !request.body.isEmpty, let type = request.header("content-type"),
      !type.lowercased().hasPrefix("application/json")
    {
      return Self.error(ErrorBody(code: "INVALID_ARGUMENT", message: "the request body must be application/json, not \(type)", status: 415))
    }

    let caller: Caller?
    switch await authorize(route.spec.access, header: request.header("authorization"), logger: logger) {
    case .success(let found): caller = found
    case .failure(let response): return response
    }

    let restRequest = RESTRequest(
      pathValues: pathValues,
      query: query,
      body: request.body,
      remotePeer: request.remotePeer,
      localPeer: request.localPeer,
      streamBufferLimit: configuration.streamBufferLimit
    )
    do {
      let context = CallContext(caller: caller, requestID: requestID, clientAddress: clientAddress(of: request))
      let reply = try await CallContext.$current.withValue(context) {
        try await route.handler(restRequest)
      }
      switch reply {
      case .message(let bytes):
        return Self.json(200, bytes)
      case .events(let messages):
        return GatewayResponse(
          status: 200,
          headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no")],
          body: .events(Self.frame(messages, requestID: requestID, logger: logger))
        )
      }
    } catch {
      let body = ErrorBody.from(error, requestID: requestID)
      if body.status >= 500 {
        logger.error("call failed", ["rpc": .string("\(route.spec.service)/\(route.spec.method)"), "error": .string("\(error)")])
      }
      var response = Self.error(body)
      if let seconds = Self.retryAfter(error) { response.headers.append(("Retry-After", seconds)) }
      return response
    }
  }

  /// The client's IP address: the peer's, or when the peer is a trusted proxy, the right-most
  /// `X-Forwarded-For` entry that is not itself a trusted proxy. Nil when the peer is unknown.
  public func clientAddress(of request: GatewayRequest) -> String? {
    guard let peer = Self.ipAddress(fromPeer: request.remotePeer) else { return nil }
    guard configuration.trustedProxies.contains(peer), let forwarded = request.header("x-forwarded-for") else {
      return peer
    }
    let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    return hops.last { !configuration.trustedProxies.contains($0) } ?? hops.first ?? peer
  }

  /// The IP address in a gRPC-style peer (`ipv4:10.0.0.1:5000`, `ipv6:[::1]:5000`), or nil.
  static func ipAddress(fromPeer peer: String) -> String? {
    if peer.hasPrefix("ipv4:") {
      let rest = peer.dropFirst(5)
      guard let colon = rest.lastIndex(of: ":") else { return rest.isEmpty ? nil : String(rest) }
      return String(rest[..<colon])
    }
    if peer.hasPrefix("ipv6:") {
      let rest = peer.dropFirst(5)
      if rest.first == "[", let close = rest.firstIndex(of: "]") {
        return String(rest[rest.index(after: rest.startIndex)..<close])
      }
      return rest.isEmpty ? nil : String(rest)
    }
    return nil
  }

  /// The `Retry-After` value (whole seconds) that a service attached to a RESOURCE_EXHAUSTED error
  /// as the `retry-after` metadata entry, if any.
  static func retryAfter(_ error: any Error) -> String? {
    let metadata: Metadata
    switch error {
    case let error as RPCError where error.code == .resourceExhausted: metadata = error.metadata
    case let error as any RPCErrorConvertible where error.rpcErrorCode == .resourceExhausted:
      metadata = error.rpcErrorMetadata
    default: return nil
    }
    guard let value = metadata[stringValues: "retry-after"].first(where: { _ in true }),
      !value.isEmpty, value.utf8.count <= 10, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
    else { return nil }
    return value
  }

  private enum Authorization {
    case success(Caller?)
    case failure(GatewayResponse)
  }

  private func authorize(_ access: AccessRequirement, header: String?, logger: RequestLogger) async -> Authorization {
    if case .anyone = access { return .success(nil) }
    guard let header, !header.isEmpty else {
      return .failure(Self.unauthenticated("missing bearer token; send 'Authorization: Bearer <access_token>'"))
    }
    let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].contains(" ") else {
      return .failure(Self.unauthenticated("malformed Authorization header; expected 'Bearer <access_token>'"))
    }
    let caller: Caller?
    do {
      caller = try await authenticator.authenticate(bearerToken: String(parts[1]))
    } catch {
      logger.warning("authenticator failed", ["error": .string("\(error)")])
      return .failure(Self.error(ErrorBody(code: "UNAVAILABLE", message: "the token could not be checked; retry")))
    }
    guard let caller else {
      return .failure(Self.unauthenticated("the access token is invalid or expired"))
    }
    if case .anyRole(let roles) = access, caller.roles.isDisjoint(with: roles) {
      let needed = roles.sorted().joined(separator: " or ")
      return .failure(Self.error(ErrorBody(code: "PERMISSION_DENIED", message: "this call needs the role \(needed)")))
    }
    return .success(caller)
  }

  // MARK: Helpers

  static func unauthenticated(_ message: String) -> GatewayResponse {
    var response = error(ErrorBody(code: "UNAUTHENTICATED", message: message))
    response.headers.append(("WWW-Authenticate", "Bearer"))
    return response
  }

  static func json(_ status: Int, _ bytes: [UInt8]) -> GatewayResponse {
    GatewayResponse(status: status, headers: [("Content-Type", "application/json")], body: .bytes(bytes))
  }

  static func error(_ body: ErrorBody) -> GatewayResponse {
    json(body.status, body.json)
  }

  /// A request id from the client if it is sane (1-128 visible ASCII characters without spaces),
  /// else a new UUID.
  public static func requestID(from header: String?) -> String {
    if let header, !header.isEmpty, header.utf8.count <= 128,
      header.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
    {
      return header
    }
    return newRequestID()
  }

  /// A random version 4 UUID in lowercase text, made without Foundation's formatter.
  static func newRequestID() -> String {
    var generator = SystemRandomNumberGenerator()
    var high = generator.next() as UInt64
    var low = generator.next() as UInt64
    high = (high & ~0xF000) | 0x4000
    low = (low & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000
    let digits = Array("0123456789abcdef".utf8)
    var bytes = [UInt8]()
    bytes.reserveCapacity(36)
    for (index, word) in [high, low].enumerated() {
      for nibble in 0..<16 {
        let position = index * 16 + nibble
        if position == 8 || position == 12 || position == 16 || position == 20 { bytes.append(UInt8(ascii: "-")) }
        bytes.append(digits[Int((word >> UInt64(60 - nibble * 4)) & 0xF)])
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  static func split(target: String) -> (path: String, query: Substring) {
    guard let mark = target.firstIndex(of: "?") else { return (target, "") }
    return (String(target[..<mark]), target[target.index(after: mark)...])
  }

  static func parse(query: Substring) -> [(name: String, value: String)]? {
    var result: [(name: String, value: String)] = []
    for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard let name = RouteTable.queryDecode(parts[0]),
        let value = RouteTable.queryDecode(parts.count > 1 ? parts[1] : "")
      else { return nil }
      result.append((name, value))
    }
    return result
  }

  /// SSE framing: one `data:` line per message; a failure becomes a final `event: error`.
  static func frame(
    _ messages: AsyncThrowingStream<[UInt8], any Error>,
    requestID: String,
    logger: RequestLogger
  ) -> AsyncThrowingStream<[UInt8], any Error> {
    let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self, throwing: (any Error).self)
    let task = Task {
      do {
        for try await message in messages {
          continuation.yield(Array("data: ".utf8) + message + Array("\n\n".utf8))
        }
      } catch {
        let body = ErrorBody.from(error, requestID: requestID)
        // 503 is how a draining server (or one whose dependency is away) ends a stream: the client
        // reconnects, which is the normal course of a release, not an error of this server.
        if body.status == 503 {
          logger.info("stream ended", ["error": .string("\(error)")])
        } else if body.status >= 500 {
          logger.error("stream failed", ["error": .string("\(error)")])
        }
        continuation.yield(Array("event: error\ndata: ".utf8) + body.json + Array("\n\n".utf8))
      }
      continuation.finish()
    }
    continuation.onTermination = { _ in task.cancel() }
    return stream
  }

  /// Merges several services' OpenAPI documents into one (paths and schemas side by side).
  static func merge(_ documents: [String]) -> String {
    if documents.count == 1 { return documents[0] }
    var paths: [String: Any] = [:]
    var schemas: [String: Any] = [:]
    var tags: [String] = []
    for document in documents {
      guard let object = try? JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any] else { continue }
      if let found = object["paths"] as? [String: Any] {
        for (path, operations) in found {
          var merged = paths[path] as? [String: Any] ?? [:]
          for (verb, operation) in operations as? [String: Any] ?? [:] { merged[verb] = operation }
          paths[path] = merged
        }
      }
      if let components = object["components"] as? [String: Any], let found = components["schemas"] as? [String: Any] {
        schemas.merge(found) { first, _ in first }
      }
      if let info = object["info"] as? [String: Any], let title = info["title"] as? String { tags.append(title) }
    }
    let root: [String: Any] = [
      "openapi": "3.1.0",
      "info": ["title": "Courier REST", "version": "v1", "description": "Services: " + tags.joined(separator: ", ")],
      "paths": paths,
      "components": [
        "schemas": schemas,
        "securitySchemes": ["bearerAuth": ["type": "http", "scheme": "bearer"]],
      ],
    ]
    guard let data = try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]) else { return "{}" }
    return String(decoding: data, as: UTF8.self)
  }
}
