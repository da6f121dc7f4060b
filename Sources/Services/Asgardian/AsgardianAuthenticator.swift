public import ContractRuntime
public import Gateway
import Generated

/// The gateway authenticator of Asgardian's own REST routes: checks tokens in process (no gRPC
/// round trip to itself). Other services use ServiceKit's `IdentityServiceAuthenticator`, which asks
/// `IsAuthenticated` over gRPC and must map the principal the same way (session id included, so
/// that Logout can end the current session). Asgardian serves it uncached, so that a revoked token
/// fails at once.
public struct AsgardianAuthenticator: Authenticator {
  let core: AsgardianCore

  public init(core: AsgardianCore) {
    self.core = core
  }

  /// The caller of an accepted token; nil for a refused one. Throws when the database cannot be
  /// reached (the gateway then answers 503).
  public func authenticate(bearerToken: String) async throws -> Caller? {
    guard case .accepted(let principal) = try await core.authenticate(bearerToken) else { return nil }
    return Caller(userID: principal.userID, roles: Set(Roles.names(principal.roles)), sessionID: principal.sessionID)
  }
}
