package import Generated
package import GRPCCore

/// AccountService (REST): sign-up, login, sessions, the caller's profile and password recovery.
package struct AccountServiceImpl: Courier_Asgardian_V1_AccountService.SimpleServiceProtocol {
  let core: AsgardianCore

  package init(core: AsgardianCore) {
    self.core = core
  }

  package func signUp(
    request: Courier_Asgardian_V1_SignUpRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_SignUpResponse {
    let created = try await core.signUp(request)
    var response = Courier_Asgardian_V1_SignUpResponse()
    response.user = created.user.message
    response.tokens = created.session.tokens
    response.principal = created.session.principal
    return response
  }

  package func login(
    request: Courier_Asgardian_V1_LoginRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_LoginResponse {
    let session = try await core.login(email: request.email, password: request.password)
    var response = Courier_Asgardian_V1_LoginResponse()
    response.tokens = session.tokens
    response.principal = session.principal
    return response
  }

  package func refreshToken(
    request: Courier_Asgardian_V1_RefreshTokenRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_RefreshTokenResponse {
    let session = try await core.refresh(request.refreshToken)
    var response = Courier_Asgardian_V1_RefreshTokenResponse()
    response.tokens = session.tokens
    response.principal = session.principal
    return response
  }

  package func logout(
    request: Courier_Asgardian_V1_LogoutRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_LogoutResponse {
    var response = Courier_Asgardian_V1_LogoutResponse()
    response.endedSessionCount = Int32(clamping: try await core.logout(allSessions: request.allSessions))
    return response
  }

  package func getProfileData(
    request: Courier_Asgardian_V1_GetProfileDataRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_GetProfileDataResponse {
    var response = Courier_Asgardian_V1_GetProfileDataResponse()
    response.user = try await core.profile().message
    return response
  }

  package func updateProfileData(
    request: Courier_Asgardian_V1_UpdateProfileDataRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_UpdateProfileDataResponse {
    var response = Courier_Asgardian_V1_UpdateProfileDataResponse()
    response.user = try await core.updateProfile(request).message
    return response
  }

  package func requestPasswordRecover(
    request: Courier_Asgardian_V1_RequestPasswordRecoverRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_RequestPasswordRecoverResponse {
    try await core.requestRecovery(email: request.email)
    return Courier_Asgardian_V1_RequestPasswordRecoverResponse()
  }

  package func resetPassword(
    request: Courier_Asgardian_V1_ResetPasswordRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_ResetPasswordResponse {
    var response = Courier_Asgardian_V1_ResetPasswordResponse()
    response.endedSessionCount = Int32(clamping: try await core.resetPassword(token: request.token, newPassword: request.newPassword))
    return response
  }
}
