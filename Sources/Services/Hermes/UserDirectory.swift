package import Generated
package import GRPCCore
import Gateway

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

/// A ``UserDirectory`` that remembers each answer for `ttl`, so that a burst of position events for
/// one subscriber asks Asgardian once rather than once per event. After `ttl` the answer is still
/// used for up to `grace` while one background call replaces it: the consumer's batches, which
/// read these users one after the other, then never wait for Asgardian for a user they see often.
/// A change to a user (disabled, notifications turned off, new address) is therefore seen by the
/// second look-up after `ttl`, and never later than `ttl + grace`; failures are not remembered.
package final class CachingUserDirectory: UserDirectory {
  private let base: any UserDirectory
  private let ttl: Duration
  private let grace: Duration
  private let cache: ExpiringCache<String, Courier_Asgardian_V1_User?>

  /// - Parameters:
  ///   - ttl: how long an answer is reused as it is: 5 s by default.
  ///   - grace: how long after that it may still be used while being replaced: 5 s by default;
  ///     zero makes every look-up after `ttl` wait for Asgardian.
  ///   - capacity: users remembered at most (see ``ExpiringCache``).
  package init(_ base: any UserDirectory, ttl: Duration = .seconds(5), grace: Duration = .seconds(5), capacity: Int = 10_000) {
    self.base = base
    self.ttl = ttl
    self.grace = grace
    self.cache = ExpiringCache(capacity: capacity)
  }

  package func user(id: String) async throws -> Courier_Asgardian_V1_User? {
    let (base, ttl) = (base, ttl)
    return try await cache.value(for: id, lifetime: { _ in ttl }, grace: grace) { try await base.user(id: id) }
  }
}
