package import ContractRuntime
package import EventSource
package import Foundation
import Generated
package import Kafka
package import Logging
import Postgres
import SwiftProtobuf

/// Hermes' consumer (group `hermes`) of its own two events.
///
/// - `DeliveryPayloadChangedLocation`: stores the payload's position (history kept), tells the
///   payload's live watchers, and has Iris notify each subscriber: a push every time, a mail at most
///   once per subscriber and payload per ``HermesConfiguration/mailInterval`` of event time, and
///   always when the payload's status differs from the one last mailed. Disabled and deleted users
///   and users who turned a channel off get nothing on it.
///   It also keeps the payload's arrival estimate (``ArrivalEstimator``) from the newest fix, and
///   when the payload is about to arrive tells each subscriber once, by push and mail.
/// - `DeliveryPayloadRegistered`: renders the receipt PDF, puts it in the bucket and records it.
/// - `DeliveryPayloadStatusChanged`: tells each subscriber once, by push and mail, that the payload
///   was DELIVERED or FAILED.
///
/// Each handler runs in the consumer's transaction, so the writes and the processed mark commit
/// together. Iris calls carry `<event_id>:<user_id>`: a retry after a failure repeats the calls with
/// the same keys and Iris answers them with the earlier deliveries.
package struct PayloadEvents: Sendable {
  /// The consumer group, also the name in the event store's `deliveries`.
  package static let group = "hermes"

  /// The events this consumer reads.
  package static var registry: EventRegistry {
    EventRegistry([
      Courier_Events_V1_DeliveryPayloadChangedLocation.self, Courier_Events_V1_DeliveryPayloadRegistered.self,
      Courier_Events_V1_DeliveryPayloadStatusChanged.self,
    ])
  }

  let configuration: HermesConfiguration
  let users: any UserDirectory
  let notifier: any Notifier
  let bucket: any Bucket
  let logger: Logger

  package init(
    configuration: HermesConfiguration, users: any UserDirectory, notifier: any Notifier, bucket: any Bucket,
    logger: Logger = Logger(label: "courier.hermes.events")
  ) {
    self.configuration = configuration
    self.users = users
    self.notifier = notifier
    self.bucket = bucket
    self.logger = logger
  }

  /// The handler for the consumer runner.
  package var handler: EventConsumer.Handler {
    { consumed, tx in
      switch consumed.event {
      case let moved as Courier_Events_V1_DeliveryPayloadChangedLocation:
        try await self.handle(moved, consumed: consumed, in: tx)
      case let registered as Courier_Events_V1_DeliveryPayloadRegistered:
        try await self.handle(registered, in: tx)
      case let changed as Courier_Events_V1_DeliveryPayloadStatusChanged:
        try await self.handle(changed, in: tx)
      default:
        return
      }
    }
  }

  /// The batch handler for the consumer runner: each event as ``handler`` handles it, with the
  /// pushes of the whole batch held back and sent to Iris in one call before the transaction
  /// commits. Should Iris refuse any of them, the batch rolls back and the consumer handles its
  /// events one by one; the pushes Iris took are then answered from its log (same keys). A batch
  /// of moves reads its payloads, subscribers and mail throttle rows (``MovedBatch``) in the
  /// claim's round trip.
  package var batchHandler: EventConsumer.BatchHandler {
    EventConsumer.BatchHandler(
      reads: { events in
        guard let moves = Self.moves(events) else { return [] }
        return MovedBatch.reads(payloadIDs: Self.payloadIDs(moves))
      },
      handle: { events, reads, tx in
        let pushes = DeferredPushes(self.notifier)
        let batch = PayloadEvents(
          configuration: self.configuration, users: self.users, notifier: pushes, bucket: self.bucket, logger: self.logger)
        if let moves = Self.moves(events) {
          // The reads cover the events offered to the claim, of which these are the claimed ones.
          // They are missing when one of the others (skipped by the claim) was not a move.
          let shared: MovedBatch
          if reads.isEmpty {
            shared = try await MovedBatch.load(payloadIDs: Self.payloadIDs(moves), in: tx)
          } else {
            shared = try MovedBatch(reads: reads)
          }
          for (consumed, moved) in zip(events, moves) {
            try await batch.handle(moved, consumed: consumed, in: tx, batch: shared)
          }
          try shared.flush(in: tx)
        } else {
          let handler = batch.handler
          for event in events { try await handler(event, tx) }
        }
        // Iris takes the pushes while the batch's writes run, rather than the writes waiting for
        // the COMMIT. The call runs off the connection's thread, which the statements hold.
        async let pushed: Void = withTaskExecutorPreference(globalConcurrentExecutor) { try await pushes.flush() }
        try await tx.sendQueued()
        try await pushed
      })
  }

  /// `events` as moves; nil unless every one of them is a move.
  private static func moves(_ events: [ConsumedEvent]) -> [Courier_Events_V1_DeliveryPayloadChangedLocation]? {
    let moves = events.compactMap { $0.event as? Courier_Events_V1_DeliveryPayloadChangedLocation }
    return moves.count == events.count ? moves : nil
  }

  /// The payloads that `moves` move (parsed only where they are needed: the reads, or a batch
  /// whose reads were not made).
  private static func payloadIDs(_ moves: [Courier_Events_V1_DeliveryPayloadChangedLocation]) -> Set<UUID> {
    Set(moves.compactMap { UUID(uuidString: $0.deliveryPayloadID) })
  }

  /// The consumer runner; run it as a background service.
  package func consumer(
    store: EventStore, kafka: KafkaConfiguration,
    configuration: EventConsumer.Configuration = .init(group: PayloadEvents.group)
  ) -> EventConsumer {
    EventConsumer(
      store: store, kafka: kafka, registry: Self.registry, configuration: configuration, logger: logger,
      batchHandler: batchHandler, handler: handler)
  }

  // MARK: Changed location

  /// - Parameter batch: what the events of a batch share (``MovedBatch``); nil for one event on its own.
  func handle(
    _ event: Courier_Events_V1_DeliveryPayloadChangedLocation, consumed: ConsumedEvent, in tx: PostgresTransaction,
    batch: MovedBatch? = nil
  ) async throws {
    guard let payloadID = UUID(uuidString: event.deliveryPayloadID), event.hasLocation, event.location.hasPoint else {
      logger.warning("ChangedLocation without a payload id or point ignored", metadata: ["event": "\(consumed.id)"])
      return
    }
    let location = event.location
    let recordedAt = location.recordedAt.date
    let delivererID = UUID(uuidString: event.delivererID)
    let occurredAt = event.hasOccurredAt ? event.occurredAt.date : consumed.occurredAt
    let locked: (row: PayloadRow, speed: Double?)?
    if let batch {
      locked = batch.payload(payloadID).map { ($0.row, $0.smoothedSpeed) }
    } else if let row = try await tx.query("SELECT * FROM hermes.payloads WHERE id = \(payloadID) FOR UPDATE").first {
      locked = (try PayloadRow(row), try row.decode(Double?.self, column: "smoothed_speed_mps"))
    } else {
      locked = nil
    }
    guard let (before, previousSpeed) = locked else {
      logger.warning("ChangedLocation of an unknown payload ignored", metadata: ["payload": "\(event.deliveryPayloadID)"])
      return
    }
    if let batch {
      batch.addPosition(
        payloadID: payloadID, eventID: consumed.id, delivererID: delivererID, location: location, recordedAt: recordedAt)
    } else {
      try await tx.execute(
        """
        INSERT INTO hermes.payload_positions
          (payload_id, event_id, deliverer_id, lat, lon, accuracy_m, speed_mps, heading_deg, altitude_m, recorded_at, stored_at)
        VALUES (\(payloadID), \(consumed.id), \(delivererID), \(location.point.latitude), \(location.point.longitude),
                \(location.accuracyMeters), \(location.speedMetersPerSecond), \(location.headingDegrees),
                \(location.altitudeMeters), \(recordedAt), clock_timestamp())
        ON CONFLICT (event_id) DO NOTHING
        """)
    }
    // The newest fix wins, whatever order events are handled in (the row is locked: `before` is
    // current). It moves the payload and its arrival estimate in one statement (for a batch, one
    // statement at its end for all its payloads).
    var arriving: String?  // the arrival in words, when the payload is about to arrive
    var payload = before  // the payload after this fix: `before` unless the fix moves it
    if before.location.map({ $0.recordedAt.date < recordedAt }) ?? true {
      let arrival = arrivalAfter(location, before: before, previousSpeed: previousSpeed)
      if arrival.arrivingSoon, let estimate = arrival.estimate {
        arriving = TrackingNotice.arrivalText(
          remainingSeconds: estimate.remainingSeconds, remainingMeters: estimate.remainingDistance)
      }
      let estimate = arrival.estimate
      let arrivalAt = estimate?.arrivalAt
      if let batch {
        payload = batch.move(payloadID, to: location, occurredAt: occurredAt, speed: arrival.speed, estimate: estimate) ?? before
      } else {
        payload = try PayloadRow(
          try await tx.query(
            """
            UPDATE hermes.payloads SET
              lat = \(location.point.latitude), lon = \(location.point.longitude), accuracy_m = \(location.accuracyMeters),
              speed_mps = \(location.speedMetersPerSecond), heading_deg = \(location.headingDegrees),
              altitude_m = \(location.altitudeMeters), recorded_at = \(recordedAt),
              updated_at = greatest(updated_at, \(occurredAt)),
              smoothed_speed_mps = \(arrival.speed),
              eta_remaining_m = CASE WHEN \(estimate != nil) THEN \(estimate?.remainingDistance) ELSE eta_remaining_m END,
              eta_remaining_s = CASE WHEN \(estimate != nil) THEN \(estimate?.remainingSeconds) ELSE eta_remaining_s END,
              eta_at = CASE WHEN \(estimate != nil) THEN \(arrivalAt) ELSE eta_at END,
              eta_fix_at = CASE WHEN \(estimate != nil) THEN \(arrivalAt == nil ? nil : estimate?.computedAt) ELSE eta_fix_at END
            WHERE id = \(payloadID)
            RETURNING *
            """)[0])
      }
    }
    let subscribers: [(userID: UUID, title: String)]
    if let batch {
      try batch.publish(payload.update)
      subscribers = batch.subscribers(payloadID)
    } else {
      try await PositionHub.publish(payload.update, in: tx)
      subscribers = try await tx.query(
        "SELECT user_id, title FROM hermes.subscriptions WHERE payload_id = \(payloadID) ORDER BY user_id"
      ).map { row -> (userID: UUID, title: String) in
        let (userID, title) = try row.decode((UUID, String).self)
        return (userID, title)
      }
    }
    for (userID, title) in subscribers {
      try await notify(
        userID, title: title, payload: payload, consumed: consumed, occurredAt: occurredAt, in: tx, batch: batch)
      if let arriving { try await notifyOnce(userID, title: title, payload: payload, kind: .arriving, arrival: arriving, in: tx) }
    }
  }

  /// The payload's smoothed speed after `location`, its newest fix, and for a carried payload with
  /// a destination the new estimate and whether it is about to arrive.
  private func arrivalAfter(
    _ location: Courier_Common_V1_Location, before: PayloadRow, previousSpeed: Double?
  ) -> (speed: Double?, estimate: ArrivalEstimator.Estimate?, arrivingSoon: Bool) {
    let estimator = configuration.arrival
    let fix = ArrivalEstimator.Fix(
      latitude: location.point.latitude, longitude: location.point.longitude, speed: location.speedMetersPerSecond,
      recordedAt: location.recordedAt.date)
    let previous = before.location.map {
      ArrivalEstimator.Fix(
        latitude: $0.point.latitude, longitude: $0.point.longitude, speed: $0.speedMetersPerSecond, recordedAt: $0.recordedAt.date)
    }
    let speed = estimator.smoothedSpeed(after: fix, previous: previous, previousSpeed: previousSpeed)
    guard before.status == .pickedUp || before.status == .inTransit, let destination = before.destination else {
      return (speed, nil, false)
    }
    let estimate = estimator.estimate(at: fix, to: (destination.latitude, destination.longitude), speed: speed)
    return (speed, estimate, estimator.isArrivingSoon(estimate))
  }

  /// Tells one subscriber something that is told once per payload (`kind`): the row in
  /// `hermes.once_notices` is written in this transaction, so a redelivered event, a later fix or a
  /// restart finds it and sends nothing. The Iris calls' key is `<kind>:<payload>:<user>`: a retry
  /// of a failed transaction repeats them and Iris answers with the earlier deliveries.
  private func notifyOnce(
    _ userID: UUID, title: String, payload: PayloadRow, kind: TrackingNotice.Kind, arrival: String = "",
    in tx: PostgresTransaction
  ) async throws {
    let inserted = try await tx.query(
      """
      INSERT INTO hermes.once_notices (user_id, payload_id, kind, sent_at)
      VALUES (\(userID), \(payload.id), \(kind.rawValue), clock_timestamp())
      ON CONFLICT DO NOTHING RETURNING 1
      """)
    guard !inserted.isEmpty else { return }
    guard let user = try await users.user(id: userID.text), !user.disabled, !user.deleted else { return }
    let notice = TrackingNotice(
      idempotencyKey: "\(kind.rawValue):\(payload.id.text):\(userID.text)", userID: userID.text, address: user.email,
      displayName: user.displayName, payloadTitle: title, trackingCode: payload.trackingCode, status: payload.status,
      trackingURL: "\(configuration.trackingURL)?code=\(payload.trackingCode)", kind: kind, arrival: arrival)
    if user.notificationPreferences.trackingPushEnabled {
      try await notifier.push(notice)
    }
    if user.notificationPreferences.trackingMailEnabled, !user.email.isEmpty {
      try await notifier.mail(notice)
    }
  }

  // MARK: Status changed

  func handle(_ event: Courier_Events_V1_DeliveryPayloadStatusChanged, in tx: PostgresTransaction) async throws {
    let kind: TrackingNotice.Kind
    switch Courier_Hermes_V1_DeliveryPayloadStatus(rawValue: Int(event.status)) {
    case .delivered: kind = .delivered
    case .failed: kind = .failed
    default: return
    }
    guard let payloadID = UUID(uuidString: event.deliveryPayloadID),
      let row = try await tx.query("SELECT * FROM hermes.payloads WHERE id = \(payloadID) FOR UPDATE").first
    else {
      logger.warning("DeliveryPayloadStatusChanged of an unknown payload ignored", metadata: ["payload": "\(event.deliveryPayloadID)"])
      return
    }
    let payload = try PayloadRow(row)
    let subscribers = try await tx.query(
      "SELECT user_id, title FROM hermes.subscriptions WHERE payload_id = \(payloadID) ORDER BY user_id")
    for subscriber in subscribers {
      let (userID, title) = try subscriber.decode((UUID, String).self)
      try await notifyOnce(userID, title: title, payload: payload, kind: kind, in: tx)
    }
  }

  private func notify(
    _ userID: UUID, title: String, payload: PayloadRow, consumed: ConsumedEvent, occurredAt: Date,
    in tx: PostgresTransaction, batch: MovedBatch?
  ) async throws {
    guard let user = try await users.user(id: userID.text), !user.disabled, !user.deleted else { return }
    let notice = TrackingNotice(
      idempotencyKey: consumed.idempotencyKey(recipient: userID.text), userID: userID.text, address: user.email,
      displayName: user.displayName, payloadTitle: title, trackingCode: payload.trackingCode, status: payload.status,
      trackingURL: "\(configuration.trackingURL)?code=\(payload.trackingCode)")
    if user.notificationPreferences.trackingPushEnabled {
      try await notifier.push(notice)
    }
    guard user.notificationPreferences.trackingMailEnabled, !user.email.isEmpty else { return }
    let last: (Date, Int)?
    if let batch {
      last = batch.lastMail(userID: userID, payloadID: payload.id).map { ($0.mailedAt, $0.status) }
    } else {
      last = try await tx.query(
        """
        SELECT last_mailed_at, last_status FROM hermes.mail_throttle
        WHERE user_id = \(userID) AND payload_id = \(payload.id) FOR UPDATE
        """
      ).first.map { try $0.decode((Date, Int).self) }
    }
    guard MailThrottle.shouldMail(
      last: last.map { ($0.0, $0.1) }, status: payload.status.rawValue, at: occurredAt, interval: configuration.mailInterval)
    else { return }
    try await notifier.mail(notice)
    try await tx.execute(
      """
      INSERT INTO hermes.mail_throttle (user_id, payload_id, last_mailed_at, last_status)
      VALUES (\(userID), \(payload.id), \(occurredAt), \(payload.status.rawValue))
      ON CONFLICT (user_id, payload_id) DO UPDATE
        SET last_mailed_at = EXCLUDED.last_mailed_at, last_status = EXCLUDED.last_status
      """)
    batch?.setLastMail(userID: userID, payloadID: payload.id, (occurredAt, payload.status.rawValue))
  }

  // MARK: Registered

  func handle(_ event: Courier_Events_V1_DeliveryPayloadRegistered, in tx: PostgresTransaction) async throws {
    guard let payloadID = UUID(uuidString: event.deliveryPayloadID) else {
      logger.warning("DeliveryPayloadRegistered without a payload id ignored")
      return
    }
    guard let row = try await tx.query("SELECT * FROM hermes.payloads WHERE id = \(payloadID) FOR UPDATE").first else {
      logger.warning("DeliveryPayloadRegistered of an unknown payload ignored", metadata: ["payload": "\(event.deliveryPayloadID)"])
      return
    }
    let payload = try PayloadRow(row)
    if try await !tx.query("SELECT 1 FROM hermes.receipts WHERE payload_id = \(payloadID)").isEmpty { return }
    let document = Receipt.document(
      trackingCode: payload.trackingCode, title: payload.title, recipientUserID: payload.recipientUserID.text,
      registeredAt: payload.createdAt)
    let key = Receipt.key(trackingCode: payload.trackingCode)
    try await bucket.put(key: key, data: document, contentType: "application/pdf")
    try await tx.execute(
      """
      INSERT INTO hermes.receipts (payload_id, object_key, size_bytes, generated_at)
      VALUES (\(payloadID), \(key), \(document.count), clock_timestamp())
      """)
    try await tx.execute(
      "UPDATE hermes.payloads SET receipt_generated_at = clock_timestamp() WHERE id = \(payloadID)")
  }
}

/// The mail throttle's rule.
package enum MailThrottle {
  /// Whether to mail now: the first time, when the status differs from the one last mailed, or when
  /// `interval` has passed since the last mail.
  package static func shouldMail(last: (mailedAt: Date, status: Int)?, status: Int, at moment: Date, interval: Duration) -> Bool {
    guard let last else { return true }
    if last.status != status { return true }
    return moment.timeIntervalSince(last.mailedAt) >= interval.timeInterval
  }
}
