/// Who is calling, as established by the REST gateway's authenticator (and, later, by the gRPC
/// server's interceptor). Services read it through `CallContext.current` because the generated
/// `SimpleServiceProtocol` hands them only the request message and a `ServerContext`.
public struct Caller: Sendable, Hashable {
  /// The Asgardian user id.
  public var userID: String
  /// The roles the user holds: `user`, `admin`, `deliverer`.
  public var roles: Set<String>

  public init(userID: String, roles: Set<String>) {
    self.userID = userID
    self.roles = roles
  }
}

/// The per-call values that travel with a request through the service code: bound with
/// `CallContext.$current.withValue(...)` for the duration of one call, never stored globally.
public struct CallContext: Sendable {
  /// The authenticated caller; nil on public routes called without a token.
  public var caller: Caller?
  /// The request id (from `X-Request-Id` or made by the gateway), for logs.
  public var requestID: String

  public init(caller: Caller?, requestID: String) {
    self.caller = caller
    self.requestID = requestID
  }

  /// The context of the call the current task serves, if any.
  @TaskLocal public static var current: CallContext?
}
