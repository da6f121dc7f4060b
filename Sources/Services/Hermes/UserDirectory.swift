package import Generated
package import GRPCCore

/// Reads Asgardian users. Production: ``IdentityServiceUserDirectory`` (Asgardian's
/// IdentityService.GetUserData over gRPC); unit tests use an in-process fake.
package protocol UserDirectory: Sendable {
  /// The user with `id` (disabled and deleted ones with their flags set), or nil when no user ever
  /// had this id. Throws when Asgardian could not answer.
  func user(id: String) async throws -> Courier_Asgardian_V1_User?
}

/// ``UserDirectory`` over Asgardian's generated IdentityService client.
package struct IdentityServiceUserDirectory<Transport: ClientTransport>: UserDirectory {
  private let client: Courier_Asgardian_V1_IdentityService.Client<Transport>
  private let timeout: Duration

  /// - Parameter timeout: the deadline of each GetUserData call.
  package init(client: GRPCClient<Transport>, timeout: Duration = .seconds(5)) {
    self.client = Courier_Asgardian_V1_IdentityService.Client(wrapping: client)
    self.timeout = timeout
  }

  package func user(id: String) async throws -> Courier_Asgardian_V1_User? {
    var request = Courier_Asgardian_V1_GetUserDataRequest()
    request.userID = id
    var options = CallOptions.defaults
    options.timeout = timeout
    do {
      return try await client.getUserData(request, options: options).user
    } catch let error as RPCError where error.code == .notFound {
      return nil
    }
  }
}
