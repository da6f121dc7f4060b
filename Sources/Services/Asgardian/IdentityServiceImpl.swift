package import Generated
package import GRPCCore

/// IdentityService (internal gRPC): user look-ups and token checks for the other services.
package struct IdentityServiceImpl: Courier_Asgardian_V1_IdentityService.SimpleServiceProtocol {
  let core: AsgardianCore

  package init(core: AsgardianCore) {
    self.core = core
  }

  package func getUserData(
    request: Courier_Asgardian_V1_GetUserDataRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_GetUserDataResponse {
    var response = Courier_Asgardian_V1_GetUserDataResponse()
    response.user = try await core.userData(id: request.userID).message
    return response
  }

  package func getUserLoginTokenData(
    request: Courier_Asgardian_V1_GetUserLoginTokenDataRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_GetUserLoginTokenDataResponse {
    let session = try await core.login(email: request.email, password: request.password)
    var response = Courier_Asgardian_V1_GetUserLoginTokenDataResponse()
    response.tokens = session.tokens
    response.principal = session.principal
    return response
  }

  package func isAuthenticated(
    request: Courier_Asgardian_V1_IsAuthenticatedRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_IsAuthenticatedResponse {
    guard !request.accessToken.isEmpty else { throw Validation.invalid("access_token", "is required") }
    var response = Courier_Asgardian_V1_IsAuthenticatedResponse()
    switch try await core.authenticate(request.accessToken) {
    case .accepted(let principal):
      response.authenticated = true
      response.principal = principal
    case .rejected(let reason):
      response.rejection = reason
    }
    return response
  }
}
