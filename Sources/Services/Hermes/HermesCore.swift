import ContractRuntime
package import EventSource
package import Foundation
import Generated
import GRPCCore
package import Logging
package import Postgres

/// Hermes' settings that are not connections.
public struct HermesConfiguration: Sendable {
  /// At most one tracking mail per subscriber and payload within this interval (a status change
  /// always mails): 15 minutes.
  public var mailInterval: Duration
  /// The user client's tracking page; mails and pushes link to `<trackingURL>?code=<tracking code>`.
  public var trackingURL: String
  /// The checks position fixes must pass.
  public var fixes: FixValidator
  /// The OsmAnd endpoint's public URL, to type into phones (Traccar Client's server URL).
  public var deviceURL: String
  /// How arrival is estimated and when "arriving soon" is told.
  public var arrival: ArrivalEstimator
  /// How many payloads one person may follow: 100.
  public var maxSubscriptions: Int
  /// Open WatchPayloadPositions streams per person: 5.
  public var maxWatchStreamsPerUser: Int
  /// Updates waiting for a slow WatchPayloadPositions reader before its stream ends: 1,000.
  public var payloadWatchBuffer: Int
  /// Positions waiting for a slow WatchDelivererPositions reader before its stream ends: 10,000.
  public var delivererWatchBuffer: Int
  /// Fixes of one ReportLocation stream kept in one transaction at most: 200. The stream's reader
  /// waits while this many are waiting.
  public var maxFixBatch: Int

  public init(
    mailInterval: Duration = .seconds(15 * 60),
    trackingURL: String = "http://127.0.0.1:8080/app/tracking",
    fixes: FixValidator = FixValidator(),
    deviceURL: String = "http://127.0.0.1:8080/tracking/osmand",
    arrival: ArrivalEstimator = ArrivalEstimator(),
    maxSubscriptions: Int = 100,
    maxWatchStreamsPerUser: Int = 5,
    payloadWatchBuffer: Int = 1_000,
    delivererWatchBuffer: Int = 10_000,
    maxFixBatch: Int = 200
  ) {
    self.mailInterval = mailInterval
    self.trackingURL = trackingURL
    self.fixes = fixes
    self.deviceURL = deviceURL
    self.arrival = arrival
    self.maxSubscriptions = maxSubscriptions
    self.maxWatchStreamsPerUser = maxWatchStreamsPerUser
    self.payloadWatchBuffer = payloadWatchBuffer
    self.delivererWatchBuffer = delivererWatchBuffer
    self.maxFixBatch = maxFixBatch
  }
}

/// Hermes' domain logic over Postgres: payloads, deliverers, fixes, subscriptions and receipts. The
/// generated service conformances (``TrackingServiceImpl``, ``DeliveryAdminServiceImpl``,
/// ``DelivererServiceImpl``) are thin adapters over it; ``PayloadEvents`` holds the event handlers.
public final class HermesCore: Sendable {
  let pool: PostgresPool
  let events: EventStore
  let configuration: HermesConfiguration
  let users: any UserDirectory
  let bucket: any Bucket
  let hub: PositionHub
  let logger: Logger
  let now: @Sendable () -> Date
  /// The ReportLocation streams' shared transactions.
  let intake = FixIntake(maxFixes: 500)

  /// - Parameters:
  ///   - events: the store that `DeliveryPayloadRegistered` and `DeliveryPayloadChangedLocation` are
  ///     appended to, in the transaction of the change they record.
  ///   - users: Asgardian, to check recipients and deliverers.
  ///   - bucket: where receipts are kept.
  ///   - hub: the live position streams of this process.
  ///   - now: the clock; tests pass their own.
  package init(
    pool: PostgresPool, events: EventStore, configuration: HermesConfiguration = HermesConfiguration(),
    users: any UserDirectory, bucket: any Bucket, hub: PositionHub,
    logger: Logger = Logger(label: "courier.hermes"), now: @escaping @Sendable () -> Date = { Date() }
  ) {
    self.pool = pool
    self.events = events
    self.configuration = configuration
    self.users = users
    self.bucket = bucket
    self.hub = hub
    self.logger = logger
    self.now = now
  }

  /// Creates or updates Hermes' tables (under the migration lock).
  @discardableResult
  public func migrate() async throws -> [Int] {
    try await pool.migrate(schema: HermesSchema.name, migrations: HermesSchema.migrations)
  }

  // MARK: Callers

  /// The authenticated caller, or UNAUTHENTICATED.
  func requireCaller() throws(RPCError) -> Caller {
    guard let caller = CallContext.current?.caller else {
      throw RPCError(code: .unauthenticated, message: "this call needs a valid access token")
    }
    return caller
  }

  /// The authenticated caller holding `role`, or UNAUTHENTICATED / PERMISSION_DENIED.
  func requireRole(_ role: String) throws(RPCError) -> Caller {
    let caller = try requireCaller()
    guard caller.roles.contains(role) else {
      throw RPCError(code: .permissionDenied, message: "this call needs the role \(role)")
    }
    return caller
  }

  /// The caller's user id as a UUID (a token with another form of id is not ours: UNAUTHENTICATED).
  func userID(of caller: Caller) throws(RPCError) -> UUID {
    guard let id = UUID(uuidString: caller.userID) else {
      throw RPCError(code: .unauthenticated, message: "the access token names no valid user")
    }
    return id
  }

  // MARK: Errors

  /// Maps database and dependency trouble to UNAVAILABLE and keeps RPC errors; anything else is INTERNAL.
  func mapped(_ error: any Error) -> any Error {
    switch error {
    case is RPCError: return error
    case let error as PostgresError where error.code != .server && error.code != .decoding:
      return RPCError(code: .unavailable, message: "the tracking database is unreachable; retry", cause: error)
    case let error as DependencyError:
      return RPCError(code: .unavailable, message: error.description, cause: error)
    case let error as BucketError:
      return RPCError(code: .unavailable, message: "the receipt store failed: \(error)", cause: error)
    default:
      let requestID = CallContext.current?.requestID ?? "-"
      logger.error("call failed", metadata: ["error": "\(error)", "request_id": "\(requestID)"])
      return RPCError(code: .internalError, message: "internal error; quote request id \(requestID)", cause: error)
    }
  }

  /// Runs `body`, turning its errors into the RPC errors the proto documents.
  func rpc<T>(_ body: () async throws -> T) async throws -> T {
    do {
      return try await body()
    } catch {
      throw mapped(error)
    }
  }

  /// Headers for events appended during this call.
  var eventHeaders: [String: String] {
    guard let id = CallContext.current?.requestID else { return [:] }
    return ["request-id": id]
  }

  /// Asks Asgardian for a user; its failure is UNAVAILABLE.
  func lookUpUser(_ id: UUID) async throws -> Courier_Asgardian_V1_User? {
    do {
      return try await users.user(id: id.text)
    } catch {
      throw DependencyError(service: "asgardian", underlying: "\(error)")
    }
  }

  // MARK: Reads shared by the operations

  func payload(id: UUID, in tx: PostgresTransaction, lock: Bool = false) async throws -> PayloadRow? {
    let rows = lock
      ? try await tx.query("SELECT * FROM hermes.payloads WHERE id = \(id) FOR UPDATE")
      : try await tx.query("SELECT * FROM hermes.payloads WHERE id = \(id)")
    return try rows.first.map(PayloadRow.init)
  }

  func payload(code: String) async throws -> PayloadRow? {
    try await pool.query("SELECT * FROM hermes.payloads WHERE tracking_code = \(code)").first.map(PayloadRow.init)
  }

  func deliverer(userID: UUID) async throws -> DelivererRow? {
    try await pool.query("SELECT * FROM hermes.deliverer_rows WHERE user_id = \(userID)").first.map(DelivererRow.init)
  }
}

/// A service Hermes depends on could not answer (UNAVAILABLE to the caller).
struct DependencyError: Error, CustomStringConvertible {
  var service: String
  var underlying: String
  var description: String { "\(service) could not be reached: \(underlying); retry" }
}
