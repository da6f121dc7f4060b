public import ContractRuntime
public import Gateway
public import GRPCCore
public import Logging
import Metrics

/// The gRPC server interceptor every Courier server installs (`CourierServer` does it):
///
/// - the request id comes from `x-request-id` metadata when it is sane, else it is a new UUID; the
///   response's initial metadata carries it back;
/// - RPCs with an HTTP binding in the contracts (REST-visible ones) get the same access rule over
///   gRPC as over REST: a bearer token in `authorization` metadata, checked by the `Authenticator`,
///   and the declared roles; RPCs without one (internal ones such as Iris `SendMail` or Asgardian
///   `IsAuthenticated`) need no token;
/// - `CallContext.current` is bound for the whole handler, including a streaming response's body;
/// - every call is counted in `grpc_server_handled_total{grpc_service,grpc_method,grpc_code}` and
///   timed in `grpc_server_handling_seconds{grpc_service,grpc_method}` (until the last response
///   message), and logged once at info level.
public struct CourierServerInterceptor: ServerInterceptor {
  private let rules: [String: AccessRequirement]
  private let authenticator: any Authenticator
  private let logger: Logger

  /// - Parameter contracts: the files whose REST-visible methods have access rules (usually
  ///   `CourierContracts.files`).
  public init(contracts: [FileContract], authenticator: any Authenticator, logger: Logger) {
    var rules: [String: AccessRequirement] = [:]
    for file in contracts {
      for method in file.methods where method.http != nil {
        rules[method.path] = method.access
      }
    }
    self.rules = rules
    self.authenticator = authenticator
    self.logger = logger
  }

  /// The address part of a gRPC peer (`ipv4:127.0.0.1:5000`, `ipv6:[::1]:5000`), for rate limits
  /// and logs; nil for peers without one (in-process, unix sockets).
  static func host(ofPeer peer: String) -> String? {
    if peer.hasPrefix("ipv4:") {
      let rest = peer.dropFirst(5)
      return rest.lastIndex(of: ":").map { String(rest[..<$0]) } ?? String(rest)
    }
    if peer.hasPrefix("ipv6:") {
      let rest = peer.dropFirst(5)
      if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
        return String(rest[rest.index(after: rest.startIndex)..<close])
      }
      return String(rest)
    }
    return nil
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let call = CallRecord(
      descriptor: context.descriptor,
      requestID: GatewayCore.requestID(from: request.metadata[stringValues: "x-request-id"].first { _ in true }),
      logger: logger
    )
    let caller: Caller?
    switch await authorize(path: "/" + context.descriptor.fullyQualifiedMethod, metadata: request.metadata, call: call) {
    case .success(let found):
      caller = found
    case .failure(let error):
      call.finish(error.code)
      return StreamingServerResponse(of: Output.self, error: error)
    }

    let callContext = CallContext(
      caller: caller, requestID: call.requestID, clientAddress: Self.host(ofPeer: context.remotePeer))
    let response: StreamingServerResponse<Output>
    do {
      response = try await CallContext.$current.withValue(callContext) {
        try await next(request, context)
      }
    } catch {
      call.finish(Self.code(of: error), error: error)
      throw error
    }

    switch response.accepted {
    case .success(var contents):
      let producer = contents.producer
      contents.producer = { writer in
        do {
          let trailers = try await CallContext.$current.withValue(callContext) {
            try await producer(writer)
          }
          call.finish(nil)
          return trailers
        } catch {
          call.finish(Self.code(of: error), error: error)
          throw error
        }
      }
      contents.metadata.addString(call.requestID, forKey: "x-request-id")
      return StreamingServerResponse(accepted: .success(contents))
    case .failure(let error):
      call.finish(error.code, error: error)
      return response
    }
  }

  /// The caller, or the RPCError that refuses the call (messages as the REST gateway's).
  /// REST-visible methods get their contract's access rule. Other methods (gRPC-only ones such as a
  /// deliverer's location stream, and internal ones) need no token, but a token that is sent is
  /// checked and its caller handed to the service, which decides.
  private func authorize(path: String, metadata: Metadata, call: CallRecord) async -> Result<Caller?, RPCError> {
    let header = metadata[stringValues: "authorization"].first(where: { _ in true }) ?? ""
    let access: AccessRequirement
    if let rule = rules[path] {
      guard rule != .anyone else { return .success(nil) }
      access = rule
    } else {
      guard !header.isEmpty else { return .success(nil) }
      access = .authenticated
    }
    guard !header.isEmpty else {
      return .failure(RPCError(code: .unauthenticated, message: "missing bearer token; send 'authorization: Bearer <access_token>' metadata"))
    }
    let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
    guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].contains(" ") else {
      return .failure(RPCError(code: .unauthenticated, message: "malformed authorization metadata; expected 'Bearer <access_token>'"))
    }
    let found: Caller?
    do {
      found = try await authenticator.authenticate(bearerToken: String(parts[1]))
    } catch {
      logger.warning("authenticator failed", metadata: ["request_id": .string(call.requestID), "error": .string("\(error)")])
      return .failure(RPCError(code: .unavailable, message: "the token could not be checked; retry"))
    }
    guard let caller = found else {
      return .failure(RPCError(code: .unauthenticated, message: "the access token is invalid or expired"))
    }
    if case .anyRole(let roles) = access, caller.roles.isDisjoint(with: roles) {
      return .failure(RPCError(code: .permissionDenied, message: "this call needs the role \(roles.sorted().joined(separator: " or "))"))
    }
    return .success(caller)
  }

  /// The status code an error ends a call with, as GRPCCore's router decides it.
  static func code(of error: any Error) -> RPCError.Code {
    switch error {
    case let error as RPCError: return error.code
    case let error as any RPCErrorConvertible: return error.rpcErrorCode
    case is CancellationError: return .cancelled
    default: return .unknown
    }
  }
}

/// One call's labels, start time and request id; `finish` records the metrics and the log line.
private struct CallRecord: Sendable {
  let service: String
  let method: String
  let requestID: String
  let logger: Logger
  let started = ContinuousClock.now

  init(descriptor: MethodDescriptor, requestID: String, logger: Logger) {
    self.service = descriptor.service.fullyQualifiedService
    self.method = descriptor.method
    self.requestID = requestID
    self.logger = logger
  }

  /// - Parameter code: how the call ended; nil for OK.
  func finish(_ code: RPCError.Code?, error: (any Error)? = nil) {
    let name = code.map(ErrorBody.codeName) ?? "OK"
    let elapsed = (ContinuousClock.now - started).components
    let nanoseconds = elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
    Counter(label: "grpc_server_handled_total", dimensions: [("grpc_service", service), ("grpc_method", method), ("grpc_code", name)])
      .increment()
    Metrics.Timer(label: "grpc_server_handling_seconds", dimensions: [("grpc_service", service), ("grpc_method", method)])
      .recordNanoseconds(nanoseconds)
    var metadata: Logger.Metadata = [
      "request_id": .string(requestID),
      "rpc": .string("/\(service)/\(method)"),
      "grpc_code": .string(name),
      "duration_ms": .stringConvertible(nanoseconds / 1_000_000),
    ]
    if let error { metadata["error"] = .string("\(error)") }
    logger.info("rpc", metadata: metadata)
  }
}
