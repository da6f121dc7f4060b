package import Generated
package import GRPCCore

/// UserAdminService (REST, admins only): list, read, change roles of, disable and delete users.
/// Every RPC checks the caller's `admin` role itself too, so a gRPC path without the gateway's
/// access rules cannot skip it.
package struct UserAdminServiceImpl: Courier_Asgardian_V1_UserAdminService.SimpleServiceProtocol {
  let core: AsgardianCore

  package init(core: AsgardianCore) {
    self.core = core
  }

  package func listUsers(
    request: Courier_Asgardian_V1_ListUsersRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_ListUsersResponse {
    let page = try await core.listUsers(request)
    var response = Courier_Asgardian_V1_ListUsersResponse()
    response.users = page.users.map(\.message)
    response.pageInfo.nextPageToken = page.nextPageToken
    response.pageInfo.totalSize = Int64(page.totalSize)
    return response
  }

  package func getUser(
    request: Courier_Asgardian_V1_GetUserRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_GetUserResponse {
    _ = try core.requireAdmin()
    var response = Courier_Asgardian_V1_GetUserResponse()
    response.user = try await core.userData(id: request.userID).message
    return response
  }

  package func setUserRoles(
    request: Courier_Asgardian_V1_SetUserRolesRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_SetUserRolesResponse {
    var response = Courier_Asgardian_V1_SetUserRolesResponse()
    response.user = try await core.setRoles(userID: request.userID, roles: request.roles).message
    return response
  }

  package func setUserDisabled(
    request: Courier_Asgardian_V1_SetUserDisabledRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_SetUserDisabledResponse {
    var response = Courier_Asgardian_V1_SetUserDisabledResponse()
    response.user = try await core.setDisabled(userID: request.userID, disabled: request.disabled, reason: request.reason).message
    return response
  }

  package func deleteUser(
    request: Courier_Asgardian_V1_DeleteUserRequest, context: ServerContext
  ) async throws -> Courier_Asgardian_V1_DeleteUserResponse {
    var response = Courier_Asgardian_V1_DeleteUserResponse()
    response.user = try await core.deleteUser(userID: request.userID).message
    return response
  }
}
