import Foundation
import Generated
import Postgres
import SwiftProtobuf
import Synchronization

/// What a batch of `DeliveryPayloadChangedLocation` events shares in its transaction, so that the
/// batch costs a few statements instead of several per event: the payload rows (locked once, in
/// id order), their subscribers and mail throttle rows are read up front; the position history
/// rows and the live notifications are written at the end, each in one statement. The handler of
/// each event reads and updates it in place of its own statements, in event order.
final class MovedBatch: Sendable {
  private struct Position {
    var payloadID: UUID
    var eventID: UUID
    var delivererID: UUID?
    var latitude: Double
    var longitude: Double
    var accuracy: Double
    var speed: Double
    var heading: Double
    var altitude: Double
    var recordedAt: Date
  }

  private struct Pair: Hashable {
    var userID: UUID
    var payloadID: UUID
  }

  private struct State {
    var rows: [UUID: PostgresRow] = [:]
    var subscribers: [UUID: [(userID: UUID, title: String)]] = [:]
    var throttle: [Pair: (mailedAt: Date, status: Int)] = [:]
    var positions: [Position] = []
    var updates: [String] = []
  }

  private let state = Mutex(State())

  private init() {}

  /// Reads and locks what `payloadIDs` need.
  static func load(payloadIDs: Set<UUID>, in tx: PostgresTransaction) async throws -> MovedBatch {
    let batch = MovedBatch()
    let ids = PostgresArray(Array(payloadIDs))
    let rows = try await tx.query("SELECT * FROM hermes.payloads WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE")
    var byID: [UUID: PostgresRow] = [:]
    for row in rows { byID[try row.decode(UUID.self, column: "id")] = row }
    var subscribers: [UUID: [(userID: UUID, title: String)]] = [:]
    for row in try await tx.query(
      "SELECT payload_id, user_id, title FROM hermes.subscriptions WHERE payload_id = ANY(\(ids)) ORDER BY payload_id, user_id")
    {
      let (payloadID, userID, title) = try row.decode((UUID, UUID, String).self)
      subscribers[payloadID, default: []].append((userID, title))
    }
    var throttle: [Pair: (mailedAt: Date, status: Int)] = [:]
    for row in try await tx.query(
      """
      SELECT user_id, payload_id, last_mailed_at, last_status FROM hermes.mail_throttle
      WHERE payload_id = ANY(\(ids)) ORDER BY user_id, payload_id FOR UPDATE
      """)
    {
      let (userID, payloadID, mailedAt, status) = try row.decode((UUID, UUID, Date, Int).self)
      throttle[Pair(userID: userID, payloadID: payloadID)] = (mailedAt, status)
    }
    batch.state.withLock { state in
      state.rows = byID
      state.subscribers = subscribers
      state.throttle = throttle
    }
    return batch
  }

  /// The payload's row as it is now in the transaction; nil for an unknown payload.
  func row(_ payloadID: UUID) -> PostgresRow? { state.withLock { $0.rows[payloadID] } }

  func setRow(_ payloadID: UUID, _ row: PostgresRow) { state.withLock { $0.rows[payloadID] = row } }

  /// The payload's subscribers, by user id.
  func subscribers(_ payloadID: UUID) -> [(userID: UUID, title: String)] {
    state.withLock { $0.subscribers[payloadID] ?? [] }
  }

  /// When the user was last mailed about the payload, and with which status.
  func lastMail(userID: UUID, payloadID: UUID) -> (mailedAt: Date, status: Int)? {
    state.withLock { $0.throttle[Pair(userID: userID, payloadID: payloadID)] }
  }

  func setLastMail(userID: UUID, payloadID: UUID, _ last: (mailedAt: Date, status: Int)) {
    state.withLock { $0.throttle[Pair(userID: userID, payloadID: payloadID)] = last }
  }

  /// A position history row, written by ``flush(in:)``.
  func addPosition(
    payloadID: UUID, eventID: UUID, delivererID: UUID?, location: Courier_Common_V1_Location, recordedAt: Date
  ) {
    let position = Position(
      payloadID: payloadID, eventID: eventID, delivererID: delivererID, latitude: location.point.latitude,
      longitude: location.point.longitude, accuracy: location.accuracyMeters, speed: location.speedMetersPerSecond,
      heading: location.headingDegrees, altitude: location.altitudeMeters, recordedAt: recordedAt)
    state.withLock { $0.positions.append(position) }
  }

  /// A live position for the payload's watchers (``PositionHub``), sent by ``flush(in:)``.
  func publish(_ update: Courier_Hermes_V1_WatchPayloadPositionsResponse) throws {
    let json = try update.jsonString()
    state.withLock { $0.updates.append(json) }
  }

  /// Writes the position history rows and sends the live positions, in event order.
  func flush(in tx: PostgresTransaction) async throws {
    let (positions, updates) = state.withLock { state in
      defer {
        state.positions.removeAll()
        state.updates.removeAll()
      }
      return (state.positions, state.updates)
    }
    if !positions.isEmpty {
      try await tx.execute(
        """
        INSERT INTO hermes.payload_positions
          (payload_id, event_id, deliverer_id, lat, lon, accuracy_m, speed_mps, heading_deg, altitude_m, recorded_at, stored_at)
        SELECT p.*, clock_timestamp() FROM unnest(
          \(PostgresArray(positions.map(\.payloadID))), \(PostgresArray(positions.map(\.eventID))),
          \(PostgresArray(positions.map(\.delivererID))), \(PostgresArray(positions.map(\.latitude))),
          \(PostgresArray(positions.map(\.longitude))), \(PostgresArray(positions.map(\.accuracy))),
          \(PostgresArray(positions.map(\.speed))), \(PostgresArray(positions.map(\.heading))),
          \(PostgresArray(positions.map(\.altitude))), \(PostgresArray(positions.map(\.recordedAt)))) AS p
        ON CONFLICT (event_id) DO NOTHING
        """)
    }
    if !updates.isEmpty {
      // One statement; unnest yields the array in order, so the watchers see them in event order.
      _ = try await tx.query(
        "SELECT pg_notify(\(PositionHub.payloadChannel), body) FROM unnest(\(PostgresArray(updates))) AS body")
    }
  }
}
