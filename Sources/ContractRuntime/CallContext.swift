/// Who is calling, as established by the REST gateway's authenticator (and, later, by the gRPC
/// server's interceptor). Services read it through `CallContext.current` because the generated
/// `SimpleServiceProtocol` hands them only the request message and a `ServerContext`.
public struct Caller: Sendable, Hashable {
  /// The Asgardian user id.
  public var userID: String
  /// The roles the user holds: `user`, `admin`, `deliverer`.
  public var roles: Set<String>
  /// The session the caller's access token belongs to (Asgardian's `Principal.session_id`), when
  /// the authenticator knows it; Asgardian's Logout ends this session.
  public var sessionID: String?

  public init(userID: String, roles: Set<String>, sessionID: String? = nil) {
    self.userID = userID
    self.roles = roles
    self.sessionID = sessionID
  }
}

/// The per-call values that travel with a request through the service code: bound with
/// `CallContext.$current.withValue(...)` for the duration of one call, never stored globally.
public struct CallContext: Sendable {
  /// The authenticated caller; nil on public routes called without a token.
  public var caller: Caller?
  /// The request id (from `X-Request-Id` or made by the gateway), for logs.
  public var requestID: String
  /// The address of the client as far as it can be trusted: the connection's peer, or the address
  /// that a trusted proxy put in `X-Forwarded-For`. Nil when unknown. Rate limits key on it.
  public var clientAddress: String?

  public init(caller: Caller?, requestID: String, clientAddress: String? = nil) {
    self.caller = caller
    self.requestID = requestID
    self.clientAddress = clientAddress
  }

  /// The context of the call the current task serves, if any.
  @TaskLocal public static var current: CallContext?
}
