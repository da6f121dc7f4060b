public import ContractRuntime
public import Gateway
import Generated
public import GRPCCore
public import Transport

/// Checks bearer tokens with Asgardian's `IdentityService.IsAuthenticated` over gRPC.
///
/// A token that Asgardian refuses (`authenticated: false`, or the RPC fails with UNAUTHENTICATED)
/// gives nil; any other failure throws, so the REST gateway answers 503 and the gRPC interceptor
/// UNAVAILABLE. `CourierServer` wraps it in a `CachingAuthenticator`.
public final class IdentityServiceAuthenticator: Authenticator {
  private let identity: Courier_Asgardian_V1_IdentityService.Client<NGHTTP2ClientTransport>
  private let timeout: Duration

  /// - Parameter client: a client of Asgardian's gRPC server whose connections run elsewhere (see
  ///   `ServiceClient`).
  public convenience init(client: GRPCClient<NGHTTP2ClientTransport>) {
    self.init(client: client, timeout: .seconds(5))
  }

  /// - Parameter timeout: the deadline of one `IsAuthenticated` call.
  public init(client: GRPCClient<NGHTTP2ClientTransport>, timeout: Duration) {
    self.identity = Courier_Asgardian_V1_IdentityService.Client(wrapping: client)
    self.timeout = timeout
  }

  public func authenticate(bearerToken: String) async throws -> Caller? {
    var request = Courier_Asgardian_V1_IsAuthenticatedRequest()
    request.accessToken = bearerToken
    var options = CallOptions.defaults
    options.timeout = timeout
    let response: Courier_Asgardian_V1_IsAuthenticatedResponse
    do {
      response = try await identity.isAuthenticated(request, options: options)
    } catch let error as RPCError where error.code == .unauthenticated {
      return nil
    }
    return Self.caller(from: response)
  }

  /// The caller an answer names, or nil when it refuses the token.
  static func caller(from response: Courier_Asgardian_V1_IsAuthenticatedResponse) -> Caller? {
    guard response.authenticated, response.hasPrincipal, !response.principal.userID.isEmpty else { return nil }
    var roles = Set<String>()
    for role in response.principal.roles {
      switch role {
      case .user: roles.insert("user")
      case .admin: roles.insert("admin")
      case .deliverer: roles.insert("deliverer")
      case .unspecified, .UNRECOGNIZED: continue
      }
    }
    let session = response.principal.sessionID
    return Caller(userID: response.principal.userID, roles: roles, sessionID: session.isEmpty ? nil : session)
  }
}

/// The authenticator of a server without an identity service: every token is unknown (401).
struct RejectingAuthenticator: Authenticator {
  func authenticate(bearerToken: String) async throws -> Caller? { nil }
}
