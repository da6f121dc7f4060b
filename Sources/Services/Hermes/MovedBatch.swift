import Foundation
import Generated
import Postgres
import SwiftProtobuf
import Synchronization

/// What a batch of `DeliveryPayloadChangedLocation` events shares in its transaction, so that the
/// batch costs a few statements instead of several per event: the payload rows (locked once, in
/// id order), their subscribers and mail throttle rows are read up front; the moved payloads, the
/// position history rows and the live notifications are written at the end, each in one
/// statement. The handler of each event reads and updates it in place of its own statements, in
/// event order.
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

  /// A payload as the batch's fixes left it: the columns a fix changes, written by ``flush(in:)``.
  struct Payload {
    var row: PayloadRow
    var smoothedSpeed: Double?
    var etaRemainingMeters: Double?
    var etaRemainingSeconds: Double?
    var etaAt: Date?
    var etaFixAt: Date?

    init(_ row: PostgresRow) throws {
      self.row = try PayloadRow(row)
      smoothedSpeed = try row.decode(Double?.self, column: "smoothed_speed_mps")
      etaRemainingMeters = try row.decode(Double?.self, column: "eta_remaining_m")
      etaRemainingSeconds = try row.decode(Double?.self, column: "eta_remaining_s")
      etaAt = try row.decode(Date?.self, column: "eta_at")
      etaFixAt = try row.decode(Date?.self, column: "eta_fix_at")
    }
  }

  private struct State {
    var payloads: [UUID: Payload] = [:]
    var moved: [UUID] = []
    var subscribers: [UUID: [(userID: UUID, title: String)]] = [:]
    var throttle: [Pair: (mailedAt: Date, status: Int)] = [:]
    var positions: [Position] = []
    var updates: [String] = []
  }

  private let state = Mutex(State())

  /// The statements that read and lock what `payloadIDs` need: the payloads, their subscribers and
  /// mail throttle rows. Run them together, in one round trip, and hand their rows to
  /// ``init(reads:)``.
  static func reads(payloadIDs: Set<UUID>) -> [PostgresQuery] {
    let ids = PostgresArray(Array(payloadIDs))
    return [
      "SELECT * FROM hermes.payloads WHERE id = ANY(\(ids)) ORDER BY id FOR UPDATE",
      "SELECT payload_id, user_id, title FROM hermes.subscriptions WHERE payload_id = ANY(\(ids)) ORDER BY payload_id, user_id",
      """
      SELECT user_id, payload_id, last_mailed_at, last_status FROM hermes.mail_throttle
      WHERE payload_id = ANY(\(ids)) ORDER BY user_id, payload_id FOR UPDATE
      """,
    ]
  }

  /// Reads and locks what `payloadIDs` need, in one round trip.
  static func load(payloadIDs: Set<UUID>, in tx: PostgresTransaction) async throws -> MovedBatch {
    try MovedBatch(reads: try await tx.query(all: reads(payloadIDs: payloadIDs)))
  }

  /// The rows handed to ``init(reads:)`` are not those of ``reads(payloadIDs:)``.
  struct ReadsMismatch: Error, CustomStringConvertible {
    var count: Int
    var description: String { "a batch of moves needs the rows of its 3 reads, got \(count) results" }
  }

  /// The batch from the rows of ``reads(payloadIDs:)``, in their order.
  init(reads results: [PostgresRows]) throws {
    guard results.count == 3 else { throw ReadsMismatch(count: results.count) }
    var byID: [UUID: Payload] = [:]
    for row in results[0] { byID[try row.decode(UUID.self, column: "id")] = try Payload(row) }
    var subscribers: [UUID: [(userID: UUID, title: String)]] = [:]
    for row in results[1] {
      let (payloadID, userID, title) = try row.decode((UUID, UUID, String).self)
      subscribers[payloadID, default: []].append((userID, title))
    }
    var throttle: [Pair: (mailedAt: Date, status: Int)] = [:]
    for row in results[2] {
      let (userID, payloadID, mailedAt, status) = try row.decode((UUID, UUID, Date, Int).self)
      throttle[Pair(userID: userID, payloadID: payloadID)] = (mailedAt, status)
    }
    state.withLock { state in
      state.payloads = byID
      state.subscribers = subscribers
      state.throttle = throttle
    }
  }

  /// The payload as it is now in the batch; nil for an unknown payload.
  func payload(_ payloadID: UUID) -> Payload? { state.withLock { $0.payloads[payloadID] } }

  /// Moves the payload to `location`, as the single-event handler's UPDATE does, and returns it as
  /// that UPDATE would have returned it (timestamps to the microsecond, as Postgres keeps them).
  func move(
    _ payloadID: UUID, to location: Courier_Common_V1_Location, occurredAt: Date, speed: Double?,
    estimate: ArrivalEstimator.Estimate?
  ) -> PayloadRow? {
    state.withLock { state in
      guard var payload = state.payloads[payloadID] else { return nil }
      payload.row.location = LocationColumns.stored(location)
      payload.row.updatedAt = max(payload.row.updatedAt, Self.stored(occurredAt))
      payload.smoothedSpeed = speed
      if let estimate {
        payload.etaRemainingMeters = estimate.remainingDistance
        payload.etaRemainingSeconds = estimate.remainingSeconds
        payload.etaAt = estimate.arrivalAt.map(Self.stored)
        payload.etaFixAt = estimate.arrivalAt == nil ? nil : Self.stored(estimate.computedAt)
      }
      if let etaAt = payload.etaAt, let fixAt = payload.etaFixAt {
        payload.row.arrivalEstimate = PayloadRow.arrivalEstimate(
          at: etaAt, fixAt: fixAt, remainingMeters: payload.etaRemainingMeters,
          remainingSeconds: payload.etaRemainingSeconds, smoothedSpeed: payload.smoothedSpeed)
      } else {
        payload.row.arrivalEstimate = nil
      }
      state.payloads[payloadID] = payload
      if !state.moved.contains(payloadID) { state.moved.append(payloadID) }
      return payload.row
    }
  }

  /// `date` as a `timestamptz` column keeps it: to the microsecond.
  private static func stored(_ date: Date) -> Date {
    Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1_000_000).rounded() / 1_000_000)
  }

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
    let text = try PositionHub.notificationText(update)
    state.withLock { $0.updates.append(text) }
  }

  /// Writes the moved payloads and the position history rows and sends the live positions, in
  /// event order. The three statements are queued (`PostgresTransaction.enqueue`) and reach the
  /// server with the transaction's next statement or its COMMIT.
  func flush(in tx: PostgresTransaction) throws {
    let (moved, positions, updates) = state.withLock { state in
      defer {
        state.moved.removeAll()
        state.positions.removeAll()
        state.updates.removeAll()
      }
      return (state.moved.compactMap { state.payloads[$0] }, state.positions, state.updates)
    }
    if !moved.isEmpty {
      let locations = moved.map { $0.row.location ?? Courier_Common_V1_Location() }
      try tx.enqueue(
        """
        UPDATE hermes.payloads AS p SET
          lat = m.lat, lon = m.lon, accuracy_m = m.accuracy_m, speed_mps = m.speed_mps, heading_deg = m.heading_deg,
          altitude_m = m.altitude_m, recorded_at = m.recorded_at, updated_at = m.updated_at,
          smoothed_speed_mps = m.smoothed_speed_mps, eta_remaining_m = m.eta_remaining_m,
          eta_remaining_s = m.eta_remaining_s, eta_at = m.eta_at, eta_fix_at = m.eta_fix_at
        FROM unnest(
          \(PostgresArray(moved.map(\.row.id))), \(PostgresArray(locations.map(\.point.latitude))),
          \(PostgresArray(locations.map(\.point.longitude))), \(PostgresArray(locations.map(\.accuracyMeters))),
          \(PostgresArray(locations.map(\.speedMetersPerSecond))), \(PostgresArray(locations.map(\.headingDegrees))),
          \(PostgresArray(locations.map(\.altitudeMeters))), \(PostgresArray(locations.map(\.recordedAt.date))),
          \(PostgresArray(moved.map(\.row.updatedAt))), \(PostgresArray(moved.map(\.smoothedSpeed))),
          \(PostgresArray(moved.map(\.etaRemainingMeters))), \(PostgresArray(moved.map(\.etaRemainingSeconds))),
          \(PostgresArray(moved.map(\.etaAt))), \(PostgresArray(moved.map(\.etaFixAt)))
        ) AS m(id, lat, lon, accuracy_m, speed_mps, heading_deg, altitude_m, recorded_at, updated_at,
               smoothed_speed_mps, eta_remaining_m, eta_remaining_s, eta_at, eta_fix_at)
        WHERE p.id = m.id
        """)
    }
    if !positions.isEmpty {
      try tx.enqueue(
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
    // One statement, in event order.
    try tx.notify(channel: PositionHub.payloadChannel, payloads: updates)
  }
}
