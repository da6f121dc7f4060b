import ContractRuntime
import Foundation
import Generated
import GRPCCore
import Logging
import Postgres
import ServiceLifecycle
import SwiftProtobuf
import Synchronization

/// The open `WatchNotifications` streams of this process, fed through Postgres `NOTIFY`, so that a
/// notification accepted by any Iris process reaches the user's streams on every process, in the
/// order the notifications were committed.
final class LiveHub: Sendable {
  /// Open streams per user.
  static let streamsPerUser = 5
  /// Notifications waiting for a slow reader before its stream is ended.
  static let bufferLimit = 100
  /// The channel a new push is announced on, with the payload `<user id> <delivery id>`, by the
  /// transaction that stores it (``DeliveryStore/insert(_:id:lease:notify:)``).
  static let channel = "iris_live"

  typealias Stream = AsyncThrowingStream<Courier_Iris_V1_Notification, any Error>

  private struct State {
    var watchers: [UUID: [UUID: Stream.Continuation]] = [:]
    var closed = false
  }

  private let state = Mutex(State())
  private let pool: PostgresPool
  private let logger: Logger

  init(pool: PostgresPool, logger: Logger) {
    self.pool = pool
    self.logger = logger
  }

  /// Opens a stream for `userID`; RESOURCE_EXHAUSTED past the per-user limit, UNAVAILABLE while
  /// the server shuts down. Call `close` when the stream's reader goes away.
  func open(userID: UUID) throws(RPCError) -> (id: UUID, stream: Stream) {
    let id = UUID()
    let (stream, continuation) = Stream.makeStream(bufferingPolicy: .bufferingOldest(Self.bufferLimit))
    let refusal: RPCError? = state.withLock { state in
      if state.closed { return RPCError(code: .unavailable, message: "the server is shutting down; reconnect") }
      if (state.watchers[userID]?.count ?? 0) >= Self.streamsPerUser {
        return RPCError(
          code: .resourceExhausted,
          message: "you already have \(Self.streamsPerUser) open notification streams; close one first")
      }
      state.watchers[userID, default: [:]][id] = continuation
      return nil
    }
    if let refusal { throw refusal }
    return (id, stream)
  }

  func close(userID: UUID, id: UUID) {
    let continuation = state.withLock { state -> Stream.Continuation? in
      let removed = state.watchers[userID]?.removeValue(forKey: id)
      if state.watchers[userID]?.isEmpty == true { state.watchers[userID] = nil }
      return removed
    }
    continuation?.finish()
  }

  /// Hands a notification to the user's open streams; a stream whose reader fell 100 behind ends
  /// with RESOURCE_EXHAUSTED.
  func deliver(_ notification: Courier_Iris_V1_Notification, to userID: UUID) {
    let continuations = state.withLock { $0.watchers[userID] ?? [:] }
    for (id, continuation) in continuations {
      if case .dropped = continuation.yield(notification) {
        continuation.finish(throwing: RPCError(
          code: .resourceExhausted,
          message: "\(Self.bufferLimit) notifications were waiting for this stream; read faster and reconnect"))
        close(userID: userID, id: id)
      }
    }
  }

  /// Ends every stream with UNAVAILABLE and refuses new ones.
  func shutDown() {
    let all = state.withLock { state -> [Stream.Continuation] in
      state.closed = true
      defer { state.watchers = [:] }
      return state.watchers.values.flatMap(\.values)
    }
    for continuation in all {
      continuation.finish(throwing: RPCError(code: .unavailable, message: "the server is shutting down; reconnect"))
    }
  }

  /// Listens for announcements until shutdown and feeds the streams. (The server ends the streams
  /// themselves through `shutDown()` as soon as it starts draining.)
  struct Feeder: Service {
    let hub: LiveHub

    func run() async throws {
      let notifications = try await hub.pool.listen(to: LiveHub.channel)
      await cancelWhenGracefulShutdown { await hub.feed(from: notifications) }
    }
  }

  private func feed(from notifications: PostgresNotifications) async {
    for await event in notifications {
      let parts = event.payload.split(separator: " ")
      guard parts.count == 2, let userID = UUID(uuidString: String(parts[0])),
        let deliveryID = UUID(uuidString: String(parts[1]))
      else { continue }
      if state.withLock({ $0.watchers[userID] == nil }) { continue }
      do {
        if let notification = try await load(deliveryID) { deliver(notification, to: userID) }
      } catch {
        logger.warning("live notification not loaded", metadata: ["delivery_id": "\(deliveryID.text)", "error": "\(error)"])
      }
    }
  }

  private func load(_ deliveryID: UUID) async throws -> Courier_Iris_V1_Notification? {
    let rows = try await pool.query("""
      SELECT summary, push_body, push_url, push_tag, push_urgency, created_at FROM iris.deliveries WHERE id = \(deliveryID)
      """)
    guard let row = rows.first else { return nil }
    var notification = Courier_Iris_V1_Notification()
    notification.notificationID = deliveryID.text
    notification.title = try row.decode(String.self, at: 0)
    notification.body = try row.decode(String.self, at: 1)
    notification.url = try row.decode(String.self, at: 2)
    notification.tag = try row.decode(String.self, at: 3)
    notification.urgency = Courier_Iris_V1_PushUrgency(rawValue: Int(try row.decode(Int32.self, at: 4))) ?? .normal
    notification.createdAt = Google_Protobuf_Timestamp(microsecondsOf: try row.decode(Date.self, at: 5))
    return notification
  }
}
