import ContractRuntime
import CourierTestSupport
import EventSource
import Foundation
import Generated
import GRPCCore
@testable import Hermes
import Kafka
import Postgres
import SwiftProtobuf
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

/// Asgardian in memory: users by id.
final class FakeDirectory: UserDirectory {
  private let users = Mutex<[String: Courier_Asgardian_V1_User]>([:])
  private let calls = Mutex(0)
  private let down = Mutex(false)

  var lookups: Int { calls.withLock { $0 } }

  /// While true, every look-up fails as if Asgardian were unreachable.
  func setDown(_ value: Bool) { down.withLock { $0 = value } }

  /// Adds a user and returns its id.
  @discardableResult
  func add(
    name: String = "Ada", roles: [Courier_Asgardian_V1_Role] = [.user], mail: Bool = true, push: Bool = true,
    disabled: Bool = false
  ) -> String {
    var user = Courier_Asgardian_V1_User()
    user.userID = UUID().uuidString.lowercased()
    user.email = "\(name.lowercased())-\(user.userID.prefix(6))@example.com"
    user.displayName = name
    user.roles = roles
    user.notificationPreferences.trackingMailEnabled = mail
    user.notificationPreferences.trackingPushEnabled = push
    user.disabled = disabled
    users.withLock { $0[user.userID] = user }
    return user.userID
  }

  func user(id: String) async throws -> Courier_Asgardian_V1_User? {
    calls.withLock { $0 += 1 }
    if down.withLock({ $0 }) { throw RPCError(code: .unavailable, message: "the fake Asgardian is down") }
    return users.withLock { $0[id] }
  }
}

/// Iris in memory: records what it was asked to send, and (like Iris) treats a repeated
/// idempotency key as the earlier delivery.
final class RecordingNotifier: Notifier {
  struct Sent: Sendable {
    var pushes: [TrackingNotice] = []
    var mails: [TrackingNotice] = []
    var pushCalls = 0
    var mailCalls = 0
    /// The sizes of the batch push calls.
    var batches: [Int] = []
  }

  private let sent = Mutex(Sent())
  private let failures = Mutex(0)
  private let batchFailures = Mutex(0)

  var pushes: [TrackingNotice] { sent.withLock { $0.pushes } }
  var mails: [TrackingNotice] { sent.withLock { $0.mails } }
  var calls: (push: Int, mail: Int) { sent.withLock { ($0.pushCalls, $0.mailCalls) } }
  var batches: [Int] { sent.withLock { $0.batches } }

  /// Makes the next `count` batch push calls fail after Iris took their first notice (as a call
  /// cut off part-way).
  func failBatches(times count: Int) { batchFailures.withLock { $0 = count } }

  /// Makes the next `count` calls fail.
  func fail(times count: Int) { failures.withLock { $0 = count } }

  private func shouldFail() -> Bool {
    failures.withLock { count in
      guard count > 0 else { return false }
      count -= 1
      return true
    }
  }

  func push(_ notice: TrackingNotice) async throws {
    if shouldFail() { throw RPCError(code: .unavailable, message: "the fake Iris is down") }
    sent.withLock { state in
      state.pushCalls += 1
      if !state.pushes.contains(where: { $0.idempotencyKey == notice.idempotencyKey }) { state.pushes.append(notice) }
    }
  }

  func push(_ notices: [TrackingNotice]) async throws {
    let fails = batchFailures.withLock { count in
      guard count > 0 else { return false }
      count -= 1
      return true
    }
    sent.withLock { state in
      state.batches.append(notices.count)
      for notice in fails ? Array(notices.prefix(1)) : notices
      where !state.pushes.contains(where: { $0.idempotencyKey == notice.idempotencyKey }) {
        state.pushes.append(notice)
      }
    }
    if fails { throw RPCError(code: .unavailable, message: "the fake Iris went down mid-batch") }
  }

  func mail(_ notice: TrackingNotice) async throws {
    if shouldFail() { throw RPCError(code: .unavailable, message: "the fake Iris is down") }
    sent.withLock { state in
      state.mailCalls += 1
      if !state.mails.contains(where: { $0.idempotencyKey == notice.idempotencyKey }) { state.mails.append(notice) }
    }
  }
}

/// One test's Hermes: its own pool on the suite's Postgres, migrated schemas, a hand-moved clock,
/// fake Asgardian and Iris, a folder bucket in a temporary directory.
struct Harness {
  let pool: PostgresPool
  let store: EventStore
  let core: HermesCore
  let clock: TestClock
  let directory: FakeDirectory
  let notifier: RecordingNotifier
  let bucket: FolderBucket
  let hub: PositionHub
  let events: PayloadEvents
  let consumer: EventConsumer
  let admin: Caller

  static func with<T>(
    configuration: HermesConfiguration = HermesConfiguration(), _ body: (Harness) async throws -> T
  ) async throws -> T {
    let url = try TestDatabase.requireURL()
    let pool = PostgresPool(
      configuration: PostgresConfiguration(connectionString: url, pool: .init(maxConnections: 4, waitTimeout: .seconds(30))))
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hermes-bucket-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    do {
      let store = EventStore(pool: pool, producer: "hermes")
      try await store.migrate()
      let clock = TestClock()
      let directory = FakeDirectory()
      let notifier = RecordingNotifier()
      let bucket = try FolderBucket(root: folder)
      let hub = PositionHub()
      let core = HermesCore(
        pool: pool, events: store, configuration: configuration, users: directory, bucket: bucket, hub: hub,
        now: { clock.now })
      try await core.migrate()
      let events = PayloadEvents(configuration: configuration, users: directory, notifier: notifier, bucket: bucket)
      // The consumer's Kafka settings are never used: tests hand it records directly.
      let consumer = events.consumer(
        store: store, kafka: KafkaConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: 9)]),
        configuration: .init(
          group: PayloadEvents.group,
          policy: DeliveryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(5))))
      let adminID = directory.add(name: "Admin", roles: [.user, .admin])
      let harness = Harness(
        pool: pool, store: store, core: core, clock: clock, directory: directory, notifier: notifier, bucket: bucket,
        hub: hub, events: events, consumer: consumer, admin: Caller(userID: adminID, roles: ["user", "admin"]))
      let result = try await body(harness)
      await pool.close()
      return result
    } catch {
      await pool.close()
      throw error
    }
  }

  /// Runs `body` as `caller`.
  func call<T>(as caller: Caller?, _ body: () async throws -> T) async throws -> T {
    try await CallContext.$current.withValue(
      CallContext(caller: caller, requestID: "test-" + UUID().uuidString.prefix(8))
    ) {
      try await body()
    }
  }

  var tracking: TrackingServiceImpl { TrackingServiceImpl(core: core) }
  var adminService: DeliveryAdminServiceImpl { DeliveryAdminServiceImpl(core: core) }
  var delivererService: DelivererServiceImpl { DelivererServiceImpl(core: core) }

  // MARK: Fixtures

  /// A payload registered by the admin for a new recipient.
  func registerPayload(title: String = "New shoes", recipient: String? = nil) async throws -> Courier_Hermes_V1_DeliveryPayload {
    var request = Courier_Hermes_V1_RegisterDeliveryPayloadRequest()
    request.title = title
    request.recipientUserID = recipient ?? directory.add(name: "Recipient")
    return try await call(as: admin) { try await adminService.registerDeliveryPayload(request: request, context: .test) }.payload
  }

  /// A registered deliverer and the caller that logs in as it.
  func registerDeliverer(name: String = "Dora") async throws -> (Courier_Hermes_V1_Deliverer, Caller) {
    let userID = directory.add(name: name, roles: [.user, .deliverer])
    var request = Courier_Hermes_V1_RegisterDelivererRequest()
    request.userID = userID
    request.displayName = name
    request.vehicle.kind = .cargoBike
    let deliverer = try await call(as: admin) { try await adminService.registerDeliverer(request: request, context: .test) }.deliverer
    return (deliverer, Caller(userID: userID, roles: ["user", "deliverer"]))
  }

  func assign(_ payload: Courier_Hermes_V1_DeliveryPayload, to deliverer: Courier_Hermes_V1_Deliverer) async throws {
    var request = Courier_Hermes_V1_AssignDeliveryPayloadRequest()
    request.deliveryPayloadID = payload.deliveryPayloadID
    request.delivererID = deliverer.delivererID
    _ = try await call(as: admin) { try await adminService.assignDeliveryPayload(request: request, context: .test) }
  }

  func setStatus(_ payload: Courier_Hermes_V1_DeliveryPayload, _ status: Courier_Hermes_V1_DeliveryPayloadStatus) async throws {
    var request = Courier_Hermes_V1_UpdateDeliveryPayloadStatusRequest()
    request.deliveryPayloadID = payload.deliveryPayloadID
    request.status = status
    _ = try await call(as: admin) { try await adminService.updateDeliveryPayloadStatus(request: request, context: .test) }
  }

  /// A payload assigned to a new deliverer and picked up: fixes of the deliverer move it.
  func carriedPayload() async throws -> (Courier_Hermes_V1_DeliveryPayload, Courier_Hermes_V1_Deliverer, Caller) {
    let payload = try await registerPayload()
    let (deliverer, caller) = try await registerDeliverer()
    try await assign(payload, to: deliverer)
    try await setStatus(payload, .pickedUp)
    return (payload, deliverer, caller)
  }

  /// Subscribes a new user (or `userID`) to the payload.
  @discardableResult
  func subscribe(_ payload: Courier_Hermes_V1_DeliveryPayload, userID: String? = nil, title: String = "Mine") async throws -> Caller {
    let id = userID ?? directory.add(name: "Sub")
    let caller = Caller(userID: id, roles: ["user"])
    var request = Courier_Hermes_V1_CreatePayloadSubscriptionRequest()
    request.payloadTrackingCode = payload.trackingCode
    request.title = title
    _ = try await call(as: caller) { try await tracking.createPayloadSubscription(request: request, context: .test) }
    return caller
  }

  /// A plausible fix `secondsAgo` before the clock, `meters` north of a start point.
  func location(meters: Double = 0, secondsAgo: TimeInterval = 0) -> Courier_Common_V1_Location {
    var location = Courier_Common_V1_Location()
    location.point.latitude = 52.52 + meters / 111_195
    location.point.longitude = 13.405
    location.accuracyMeters = 5
    location.recordedAt = Google_Protobuf_Timestamp(date: clock.now.addingTimeInterval(-secondsAgo))
    return location
  }

  func report(_ location: Courier_Common_V1_Location, as caller: Caller?) async throws -> Courier_Hermes_V1_ReportLocationFixResponse {
    var request = Courier_Hermes_V1_ReportLocationFixRequest()
    request.location = location
    return try await call(as: caller) { try await delivererService.reportLocationFix(request: request, context: .test) }
  }

  // MARK: Events

  /// The stored events of a type, oldest first, as the Kafka records the relay would send.
  func records(type: String, after seq: Int64 = 0) async throws -> [ConsumerRecord] {
    let rows = try await pool.query(
      """
      SELECT id, topic, key, type, producer, payload, occurred_at, seq FROM event_source.events
      WHERE type = \(type) AND seq > \(seq) ORDER BY seq
      """)
    return try rows.map { row in
      let (id, topic, key, type, producer, payload, occurredAt, seq) = try row.decode(
        (UUID, String, String, String, String, [UInt8], Date, Int64).self)
      var envelope = Courier_Events_V1_EventEnvelope()
      envelope.eventID = id.uuidString.lowercased()
      envelope.eventType = type
      envelope.key = key
      envelope.producer = producer
      envelope.occurredAt = Google_Protobuf_Timestamp(date: occurredAt)
      envelope.payload = Data(payload)
      return ConsumerRecord(
        topic: topic, partition: 0, offset: seq, timestamp: 0, key: Array(key.utf8), value: try envelope.serializedBytes(),
        headers: [])
    }
  }

  /// Hands every stored event of `type` after `seq` to Hermes' consumer, one by one; returns the outcomes.
  @discardableResult
  func handle(type: String, after seq: Int64 = 0) async throws -> [EventConsumer.Outcome] {
    var outcomes: [EventConsumer.Outcome] = []
    for record in try await records(type: type, after: seq) { outcomes.append(try await consumer.handle(record)) }
    return outcomes
  }

  /// The highest event seq so far.
  func lastSeq() async throws -> Int64 {
    try await pool.query("SELECT coalesce(max(seq), 0)::int8 FROM event_source.events")[0].decode(Int64.self, at: 0)
  }

  static let moved = Courier_Events_V1_DeliveryPayloadChangedLocation.eventBinding.typeName
  static let registered = Courier_Events_V1_DeliveryPayloadRegistered.eventBinding.typeName
}

extension ServerContext {
  /// A context for calling a service conformance directly.
  static var test: ServerContext {
    ServerContext(
      descriptor: MethodDescriptor(fullyQualifiedService: "test", method: "test"), remotePeer: "in-process:test",
      localPeer: "in-process:test", cancellation: ServerContext.RPCCancellationHandle())
  }
}

/// Expects `body` to fail with an RPCError of `code`; returns the error.
@discardableResult
func expectCode<T>(
  _ code: RPCError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> RPCError? {
  do {
    _ = try await body()
    Issue.record("expected \(code), the call succeeded", sourceLocation: sourceLocation)
    return nil
  } catch let error as RPCError {
    #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
    return error
  } catch {
    Issue.record("expected an RPCError \(code), got \(error)", sourceLocation: sourceLocation)
    return nil
  }
}
