@testable import Asgardian
import ContractRuntime
import CourierTestSupport
import EventSource
import Foundation
import Generated
import GRPCCore
import Postgres
import Synchronization
import Testing

/// A clock that tests move by hand.
final class TestClock: Sendable {
  private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))

  var now: Date { current.withLock { $0 } }

  func advance(by seconds: TimeInterval) {
    current.withLock { $0 = $0.addingTimeInterval(seconds) }
  }
}

/// Records the mail that Asgardian hands over instead of calling Iris.
final class RecordingMailer: MailSending {
  private let sent = Mutex<[AccountMail]>([])
  private let failures = Mutex(0)

  var mails: [AccountMail] { sent.withLock { $0 } }

  /// Makes the next `count` sends fail.
  func fail(times count: Int) {
    failures.withLock { $0 = count }
  }

  func send(_ mail: AccountMail) async throws {
    let fail = failures.withLock { count -> Bool in
      guard count > 0 else { return false }
      count -= 1
      return true
    }
    if fail { throw RPCError(code: .unavailable, message: "the fake Iris is down") }
    sent.withLock { $0.append(mail) }
  }
}

/// One test's Asgardian: its own pool on the suite's Postgres, migrated schemas, a hand-moved clock,
/// a recording mailer and fast scrypt parameters.
struct Harness {
  let pool: PostgresPool
  let store: EventStore
  let core: AsgardianCore
  let clock: TestClock
  let mailer: RecordingMailer
  let keys: TokenKeySet

  static let fastPasswords = PasswordHasher.Parameters(logN: 10, r: 8, p: 1)

  /// Runs `body` with a fresh harness and closes its pool afterwards.
  static func with<T>(
    parameters: PasswordHasher.Parameters = fastPasswords,
    keys: TokenKeySet? = nil,
    clock: TestClock = TestClock(),
    _ body: (Harness) async throws -> T
  ) async throws -> T {
    let url = try TestDatabase.requireURL()
    let pool = PostgresPool(
      configuration: PostgresConfiguration(connectionString: url, pool: .init(maxConnections: 3, waitTimeout: .seconds(30))))
    do {
      let store = EventStore(pool: pool, producer: "asgardian")
      try await store.migrate()
      let keys = try keys ?? TokenKeySet(signing: .generate(id: "test-key"))
      let mailer = RecordingMailer()
      let core = AsgardianCore(
        pool: pool, events: store,
        configuration: AsgardianConfiguration(keys: keys, passwordParameters: parameters),
        mailer: mailer, now: { clock.now })
      try await core.migrate()
      let harness = Harness(pool: pool, store: store, core: core, clock: clock, mailer: mailer, keys: keys)
      let result = try await body(harness)
      await pool.close()
      return result
    } catch {
      await pool.close()
      throw error
    }
  }

  /// Runs `body` as `caller` calling from `address`.
  func call<T>(
    as caller: Caller?, from address: String? = "192.0.2.1", _ body: () async throws -> T
  ) async throws -> T {
    try await CallContext.$current.withValue(
      CallContext(caller: caller, requestID: "test-" + UUID().uuidString.prefix(8), clientAddress: address)
    ) {
      try await body()
    }
  }

  var account: AccountServiceImpl { AccountServiceImpl(core: core) }
  var identity: IdentityServiceImpl { IdentityServiceImpl(core: core) }
  var admin: UserAdminServiceImpl { UserAdminServiceImpl(core: core) }

  /// A new account with a unique email; returns the response (user, tokens, principal).
  func signUp(
    name: String = "Ada Lovelace", password: String = "correct horse battery", email: String? = nil
  ) async throws -> Courier_Asgardian_V1_SignUpResponse {
    var request = Courier_Asgardian_V1_SignUpRequest()
    request.email = email ?? Self.uniqueEmail()
    request.password = password
    request.displayName = name
    return try await call(as: nil, from: nil) { try await account.signUp(request: request, context: .test) }
  }

  /// Logs in over AccountService.Login.
  func login(_ email: String, _ password: String, from address: String? = "192.0.2.1") async throws -> Courier_Asgardian_V1_LoginResponse {
    var request = Courier_Asgardian_V1_LoginRequest()
    request.email = email
    request.password = password
    return try await call(as: nil, from: address) { try await account.login(request: request, context: .test) }
  }

  /// Checks a token over IdentityService.IsAuthenticated.
  func check(_ token: String) async throws -> Courier_Asgardian_V1_IsAuthenticatedResponse {
    var request = Courier_Asgardian_V1_IsAuthenticatedRequest()
    request.accessToken = token
    return try await identity.isAuthenticated(request: request, context: .test)
  }

  /// The caller that the gateway's authenticator would make of a principal.
  static func caller(_ principal: Courier_Asgardian_V1_Principal) -> Caller {
    Caller(userID: principal.userID, roles: Set(Roles.names(principal.roles)), sessionID: principal.sessionID)
  }

  /// Makes an existing user an admin directly in the database (tests only).
  func promote(_ userID: String) async throws -> Caller {
    try await pool.execute(
      "UPDATE asgardian.users SET roles = ARRAY['user', 'admin'] WHERE id = \(UUID(uuidString: userID)!)")
    return Caller(userID: userID, roles: ["user", "admin"])
  }

  static func uniqueEmail() -> String {
    "user-\(UUID().uuidString.prefix(12).lowercased())@example.com"
  }
}

extension ServerContext {
  /// A context for calling a service conformance directly.
  static var test: ServerContext {
    ServerContext(
      descriptor: MethodDescriptor(fullyQualifiedService: "test", method: "test"), remotePeer: "in-process:test",
      localPeer: "in-process:test", cancellation: ServerContext.RPCCancellationHandle())
  }
}

/// Runs `body` and returns the RPC error it threw, recording an issue when it threw none or another error.
@discardableResult
func rpcError<T>(
  _ body: () async throws -> T, sourceLocation: SourceLocation = #_sourceLocation
) async -> RPCError? {
  do {
    _ = try await body()
    Issue.record("expected an RPCError, the call succeeded", sourceLocation: sourceLocation)
    return nil
  } catch let error as RPCError {
    return error
  } catch {
    Issue.record("expected an RPCError, got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}

/// Expects `body` to fail with `code`.
func expectCode<T>(
  _ code: RPCError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async {
  let error = await rpcError(body, sourceLocation: sourceLocation)
  #expect(error?.code == code, "got \(String(describing: error))", sourceLocation: sourceLocation)
}
