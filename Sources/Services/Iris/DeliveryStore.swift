import Foundation
import Generated
import Postgres

/// The two ways Iris reaches a person, as stored (the proto enum's numbers).
enum Channel: Int32, Sendable {
  case mail = 1
  case push = 2
}

/// One row of `iris.deliveries`.
struct DeliveryRecord: Sendable {
  var id: UUID
  var channel: Channel
  var status: Courier_Iris_V1_DeliveryStatus
  var idempotencyKey: String
  var userID: UUID?
  var recipientAddress: String
  var recipientName: String
  var templateName: String
  /// The mail's subject or the push notification's title.
  var summary: String
  var mailText: String
  var mailHTML: String
  var mailMessageID: String
  /// The push message's JSON, exactly as encrypted for every subscription.
  var pushPayload: String
  var pushBody: String
  var pushURL: String
  var pushTag: String
  var pushTTL: Int32
  var pushUrgency: Int32
  var attemptCount: Int32
  var lastError: String
  var pushedSubscriptionCount: Int32
  var subscriptionCount: Int32
  var createdAt: Date
  var updatedAt: Date
  var nextAttemptAt: Date?

  static let columns: StaticString = """
    id, channel, status, idempotency_key, user_id, recipient_address, recipient_name, template_name, summary, \
    mail_text, mail_html, mail_message_id, push_payload, push_body, push_url, push_tag, push_ttl, push_urgency, \
    attempt_count, last_error, pushed_subscription_count, subscription_count, created_at, updated_at, next_attempt_at
    """

  init(row: PostgresRow) throws {
    id = try row.decode(UUID.self, at: 0)
    channel = Channel(rawValue: try row.decode(Int32.self, at: 1)) ?? .mail
    status = Courier_Iris_V1_DeliveryStatus(rawValue: Int(try row.decode(Int32.self, at: 2))) ?? .pending
    idempotencyKey = try row.decode(String.self, at: 3)
    userID = try row.decode(UUID?.self, at: 4)
    recipientAddress = try row.decode(String.self, at: 5)
    recipientName = try row.decode(String.self, at: 6)
    templateName = try row.decode(String.self, at: 7)
    summary = try row.decode(String.self, at: 8)
    mailText = try row.decode(String.self, at: 9)
    mailHTML = try row.decode(String.self, at: 10)
    mailMessageID = try row.decode(String.self, at: 11)
    pushPayload = try row.decode(String.self, at: 12)
    pushBody = try row.decode(String.self, at: 13)
    pushURL = try row.decode(String.self, at: 14)
    pushTag = try row.decode(String.self, at: 15)
    pushTTL = try row.decode(Int32.self, at: 16)
    pushUrgency = try row.decode(Int32.self, at: 17)
    attemptCount = try row.decode(Int32.self, at: 18)
    lastError = try row.decode(String.self, at: 19)
    pushedSubscriptionCount = try row.decode(Int32.self, at: 20)
    subscriptionCount = try row.decode(Int32.self, at: 21)
    createdAt = try row.decode(Date.self, at: 22)
    updatedAt = try row.decode(Date.self, at: 23)
    nextAttemptAt = try row.decode(Date?.self, at: 24)
  }
}

/// What a new delivery row holds before anything is sent.
struct NewDelivery: Sendable {
  var channel: Channel
  var idempotencyKey: String
  var userID: UUID?
  var recipientAddress = ""
  var recipientName = ""
  var templateName = ""
  var summary: String
  var mailText = ""
  var mailHTML = ""
  var mailMessageID = ""
  var pushPayload = ""
  var pushBody = ""
  var pushURL = ""
  var pushTag = ""
  var pushTTL: Int32 = 0
  var pushUrgency: Int32 = 0
}

/// The outcome of one try, written back to the row.
struct AttemptResult: Sendable {
  var status: Courier_Iris_V1_DeliveryStatus
  var lastError: String
  /// RETRYING: when to try again.
  var retryAt: Date?
  var pushedSubscriptionCount: Int32?
  var subscriptionCount: Int32?
}

/// Filters of the delivery log.
struct DeliveryFilter: Sendable, Hashable {
  var channel: Channel?
  var status: Courier_Iris_V1_DeliveryStatus?
  var userID: UUID?
}

/// `iris.deliveries` and `iris.push_targets`: the record of every request, written before it is
/// sent, and the state machine of its tries.
final class DeliveryStore: Sendable {
  let pool: PostgresPool

  init(pool: PostgresPool) {
    self.pool = pool
  }

  /// Records a request and claims its first try for `lease`, or finds the earlier request with the
  /// same channel and idempotency key (`duplicate` true; nothing is claimed then).
  ///
  /// With `notify`, a new row's NOTIFY goes in the same transaction, so that a push costs one commit
  /// less and live watchers hear of it exactly when it is stored (a repeated request notifies no one).
  func insert(
    _ new: NewDelivery, id: UUID, lease: Duration, notify: (channel: String, payload: String)? = nil
  ) async throws -> (record: DeliveryRecord, duplicate: Bool) {
    let leaseSeconds = lease.seconds
    return try await pool.withTransaction { tx in
      let inserted = try await tx.query("""
        INSERT INTO iris.deliveries (id, channel, status, idempotency_key, user_id, recipient_address, recipient_name,
          template_name, summary, mail_text, mail_html, mail_message_id, push_payload, push_body, push_url, push_tag,
          push_ttl, push_urgency, attempt_count, next_attempt_at)
        VALUES (\(id), \(new.channel.rawValue), \(Int32(Courier_Iris_V1_DeliveryStatus.pending.rawValue)),
          \(new.idempotencyKey), \(new.userID), \(new.recipientAddress), \(new.recipientName), \(new.templateName),
          \(new.summary), \(new.mailText), \(new.mailHTML), \(new.mailMessageID), \(new.pushPayload), \(new.pushBody),
          \(new.pushURL), \(new.pushTag), \(new.pushTTL), \(new.pushUrgency), 1,
          now() + make_interval(secs => \(leaseSeconds)))
        ON CONFLICT (channel, idempotency_key) DO NOTHING
        RETURNING \(sql: DeliveryRecord.columns)
        """)
      if let row = inserted.first {
        if let notify { try await tx.notify(channel: notify.channel, payload: notify.payload) }
        return (try DeliveryRecord(row: row), false)
      }
      let existing = try await tx.query("""
        SELECT \(sql: DeliveryRecord.columns) FROM iris.deliveries
        WHERE channel = \(new.channel.rawValue) AND idempotency_key = \(new.idempotencyKey)
        """)
      guard let row = existing.first else {
        // The conflicting row vanished between the two statements: only an operator deleting rows
        // by hand does that. Ask the caller to retry.
        throw IrisStoreError.conflictVanished
      }
      return (try DeliveryRecord(row: row), true)
    }
  }

  /// One push request of ``insertPushes(_:lease:channel:)``.
  struct NewPush: Sendable {
    var delivery: NewDelivery
    var id: UUID
  }

  /// Records several push requests, each as ``insert(_:id:lease:notify:)`` does with the live
  /// NOTIFY (`channel`, payload `<user> <delivery>`); answers in the order of `pushes`. A request
  /// for a user without a live push subscription is written SKIPPED at once (its only try, with
  /// nothing to send), so it needs no second write. A request whose key is already stored (also
  /// earlier in the same batch) comes back as that row, `duplicate` true, and notifies no one.
  ///
  /// One statement, so one round trip and one commit for the batch: it looks up the users'
  /// subscriptions, inserts the rows and sends the NOTIFYs, which go out when it commits. Only
  /// repeated keys cost a second query. (A subscription query, then a transaction of an INSERT
  /// and a commit, were three round trips. At 1,000 pushes/s in `scripts/bench-pipeline.sh` they
  /// made Iris' share of a tracking batch the longest step of Hermes' handler.)
  func insertPushes(
    _ pushes: [NewPush], lease: Duration, channel: String
  ) async throws -> [(record: DeliveryRecord, duplicate: Bool)] {
    guard !pushes.isEmpty else { return [] }
    let leaseSeconds = lease.seconds
    let pending = Int32(Courier_Iris_V1_DeliveryStatus.pending.rawValue)
    let skipped = Int32(Courier_Iris_V1_DeliveryStatus.skipped.rawValue)
    let news = pushes.map(\.delivery)
    // Rows are numbered so that of two requests with one key the earlier one is stored, and the
    // live streams hear of the pushes in request order. `announced` runs because the final SELECT
    // reads its count.
    let inserted = try await pool.query("""
      WITH r AS (
        SELECT r.*, r.user_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM iris.push_subscriptions s
            WHERE s.user_id = r.user_id AND (s.expiration_time IS NULL OR s.expiration_time > now())) AS skip
        FROM unnest(
          \(PostgresArray(pushes.map(\.id))), \(PostgresArray(news.map(\.channel.rawValue))),
          \(PostgresArray(news.map(\.idempotencyKey))),
          \(PostgresArray(news.map(\.userID))), \(PostgresArray(news.map(\.recipientAddress))),
          \(PostgresArray(news.map(\.recipientName))), \(PostgresArray(news.map(\.templateName))),
          \(PostgresArray(news.map(\.summary))), \(PostgresArray(news.map(\.mailText))), \(PostgresArray(news.map(\.mailHTML))),
          \(PostgresArray(news.map(\.mailMessageID))), \(PostgresArray(news.map(\.pushPayload))),
          \(PostgresArray(news.map(\.pushBody))), \(PostgresArray(news.map(\.pushURL))), \(PostgresArray(news.map(\.pushTag))),
          \(PostgresArray(news.map(\.pushTTL))), \(PostgresArray(news.map(\.pushUrgency)))
        ) WITH ORDINALITY AS r (id, channel, idempotency_key, user_id, recipient_address, recipient_name,
          template_name, summary, mail_text, mail_html, mail_message_id, push_payload, push_body, push_url, push_tag,
          push_ttl, push_urgency, n)
      ), stored AS (
        INSERT INTO iris.deliveries (id, channel, status, idempotency_key, user_id, recipient_address, recipient_name,
          template_name, summary, mail_text, mail_html, mail_message_id, push_payload, push_body, push_url, push_tag,
          push_ttl, push_urgency, attempt_count, next_attempt_at)
        SELECT r.id, r.channel, CASE WHEN r.skip THEN \(skipped) ELSE \(pending) END, r.idempotency_key, r.user_id,
          r.recipient_address, r.recipient_name, r.template_name, r.summary, r.mail_text, r.mail_html, r.mail_message_id,
          r.push_payload, r.push_body, r.push_url, r.push_tag, r.push_ttl, r.push_urgency, 1,
          CASE WHEN r.skip THEN NULL ELSE now() + make_interval(secs => \(leaseSeconds)) END
        FROM r
        ORDER BY r.n
        ON CONFLICT (channel, idempotency_key) DO NOTHING
        RETURNING \(sql: DeliveryRecord.columns)
      ), announced AS (
        SELECT pg_notify(\(channel), o.user_id::text || ' ' || o.id::text)
        FROM (SELECT stored.user_id, stored.id FROM stored JOIN r ON r.id = stored.id
              WHERE stored.user_id IS NOT NULL ORDER BY r.n) AS o
      )
      SELECT \(sql: DeliveryRecord.columns) FROM stored WHERE (SELECT count(*) FROM announced) >= 0
      """)
    var stored: [UUID: DeliveryRecord] = [:]
    for row in inserted {
      let record = try DeliveryRecord(row: row)
      stored[record.id] = record
    }
    var earlier: [String: DeliveryRecord] = [:]
    let repeated = pushes.filter { stored[$0.id] == nil }
    if !repeated.isEmpty {
      let rows = try await pool.query("""
        SELECT \(sql: DeliveryRecord.columns) FROM iris.deliveries
        WHERE channel = \(Channel.push.rawValue) AND idempotency_key = ANY(\(PostgresArray(repeated.map(\.delivery.idempotencyKey))))
        """)
      for row in rows {
        let record = try DeliveryRecord(row: row)
        earlier[record.idempotencyKey] = record
      }
    }
    return try pushes.map { push -> (record: DeliveryRecord, duplicate: Bool) in
      if let record = stored[push.id] { return (record, false) }
      // The conflicting row vanished between the two statements: only an operator deleting
      // rows by hand does that. Ask the caller to retry.
      guard let record = earlier[push.delivery.idempotencyKey] else { throw IrisStoreError.conflictVanished }
      return (record, true)
    }
  }

  /// Writes a try's outcome.
  func finish(_ id: UUID, _ result: AttemptResult) async throws -> DeliveryRecord {
    let retrySeconds: Double? = result.retryAt.map { max(0, $0.timeIntervalSinceNow) }
    let rows = try await pool.query("""
      UPDATE iris.deliveries SET
        status = \(Int32(result.status.rawValue)),
        last_error = \(result.lastError),
        next_attempt_at = CASE WHEN \(retrySeconds)::float8 IS NULL THEN NULL
                               ELSE now() + make_interval(secs => \(retrySeconds)) END,
        pushed_subscription_count = COALESCE(\(result.pushedSubscriptionCount), pushed_subscription_count),
        subscription_count = COALESCE(\(result.subscriptionCount), subscription_count),
        updated_at = now()
      WHERE id = \(id)
      RETURNING \(sql: DeliveryRecord.columns)
      """)
    guard let row = rows.first else { throw IrisStoreError.missing(id) }
    return try DeliveryRecord(row: row)
  }

  /// Claims up to `limit` PENDING or RETRYING rows whose time has come, moving each a lease ahead
  /// and counting the try, so that no other sender claims them meanwhile.
  func claimDue(limit: Int, lease: Duration) async throws -> [DeliveryRecord] {
    let rows = try await pool.query("""
      WITH due AS (
        SELECT id AS due_id FROM iris.deliveries
        WHERE status IN (1, 3) AND next_attempt_at <= now()
        ORDER BY next_attempt_at
        LIMIT \(limit)
        FOR UPDATE SKIP LOCKED
      )
      UPDATE iris.deliveries d SET
        attempt_count = d.attempt_count + 1,
        next_attempt_at = now() + make_interval(secs => \(lease.seconds)),
        updated_at = now()
      FROM due WHERE d.id = due.due_id
      RETURNING \(sql: DeliveryRecord.columns)
      """)
    return try rows.map(DeliveryRecord.init(row:))
  }

  /// The earliest time a PENDING or RETRYING row becomes due, if any.
  func nextDueDate() async throws -> Date? {
    let rows = try await pool.query("SELECT min(next_attempt_at) FROM iris.deliveries WHERE status IN (1, 3)")
    return try rows.first?.decode(Date?.self, at: 0)
  }

  /// One page of the log, newest first, after the `(created_at, id)` of the previous page's last row.
  func list(
    _ filter: DeliveryFilter, after cursor: (Date, UUID)?, limit: Int
  ) async throws -> (records: [DeliveryRecord], total: Int64) {
    let channel = filter.channel?.rawValue
    let status = filter.status.map { Int32($0.rawValue) }
    let cursorTime = cursor?.0
    let cursorID = cursor?.1
    let rows = try await pool.query("""
      SELECT \(sql: DeliveryRecord.columns) FROM iris.deliveries
      WHERE (\(channel)::integer IS NULL OR channel = \(channel))
        AND (\(status)::integer IS NULL OR status = \(status))
        AND (\(filter.userID)::uuid IS NULL OR user_id = \(filter.userID))
        AND (\(cursorTime)::timestamptz IS NULL OR (created_at, id) < (\(cursorTime), \(cursorID)))
      ORDER BY created_at DESC, id DESC
      LIMIT \(limit)
      """)
    let count = try await pool.query("""
      SELECT count(*) FROM iris.deliveries
      WHERE (\(channel)::integer IS NULL OR channel = \(channel))
        AND (\(status)::integer IS NULL OR status = \(status))
        AND (\(filter.userID)::uuid IS NULL OR user_id = \(filter.userID))
      """)
    return (try rows.map(DeliveryRecord.init(row:)), try count.first?.decode(Int64.self, at: 0) ?? 0)
  }

  // MARK: push targets

  /// Records the subscriptions a push delivery goes to (first try only).
  func addTargets(delivery: UUID, subscriptions: [UUID]) async throws {
    guard !subscriptions.isEmpty else { return }
    try await pool.withTransaction { tx in
      for subscription in subscriptions {
        try await tx.execute("""
          INSERT INTO iris.push_targets (delivery_id, subscription_id, state) VALUES (\(delivery), \(subscription), 1)
          ON CONFLICT DO NOTHING
          """)
      }
    }
  }

  /// The subscriptions of a push delivery still waiting for a try, with their keys; targets whose
  /// subscription was removed meanwhile are dropped.
  func waitingTargets(delivery: UUID) async throws -> [StoredPushSubscription] {
    let rows = try await pool.query("""
      SELECT \(sql: StoredPushSubscription.joinedColumns) FROM iris.push_targets t
      JOIN iris.push_subscriptions s ON s.id = t.subscription_id
      WHERE t.delivery_id = \(delivery) AND t.state = 1
      ORDER BY s.created_at
      """)
    return try rows.map(StoredPushSubscription.init(row:))
  }

  /// How many targets of a push delivery were accepted so far.
  func acceptedTargetCount(delivery: UUID) async throws -> Int32 {
    let rows = try await pool.query(
      "SELECT count(*)::integer FROM iris.push_targets WHERE delivery_id = \(delivery) AND state = 2")
    return try rows.first?.decode(Int32.self, at: 0) ?? 0
  }

  func markTarget(delivery: UUID, subscription: UUID, state: Int32, error: String) async throws {
    try await pool.execute("""
      UPDATE iris.push_targets SET state = \(state), last_error = \(error)
      WHERE delivery_id = \(delivery) AND subscription_id = \(subscription)
      """)
  }
}

enum IrisStoreError: Error, CustomStringConvertible {
  case conflictVanished
  case missing(UUID)

  var description: String {
    switch self {
    case .conflictVanished: "the earlier request with this idempotency key could not be read; retry"
    case .missing(let id): "delivery \(id) is not in the store"
    }
  }
}

extension Duration {
  /// The duration in seconds, as a Double.
  var seconds: Double {
    let (whole, attoseconds) = components
    return Double(whole) + Double(attoseconds) / 1e18
  }
}
