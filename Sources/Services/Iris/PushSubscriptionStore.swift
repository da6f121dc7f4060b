import ContractRuntime
import Foundation
import Generated
import Postgres
import SwiftProtobuf

/// One row of `iris.push_subscriptions`.
struct StoredPushSubscription: Sendable {
  var id: UUID
  var userID: UUID
  var endpoint: String
  var p256dh: String
  var auth: String
  var userAgent: String
  var expirationTime: Date?
  var createdAt: Date
  var lastPushedAt: Date?

  static let columns: StaticString =
    "id, user_id, endpoint, p256dh, auth, user_agent, expiration_time, created_at, last_pushed_at"
  static let joinedColumns: StaticString = """
    s.id, s.user_id, s.endpoint, s.p256dh, s.auth, s.user_agent, s.expiration_time, s.created_at, s.last_pushed_at
    """

  init(row: PostgresRow) throws {
    id = try row.decode(UUID.self, at: 0)
    userID = try row.decode(UUID.self, at: 1)
    endpoint = try row.decode(String.self, at: 2)
    p256dh = try row.decode(String.self, at: 3)
    auth = try row.decode(String.self, at: 4)
    userAgent = try row.decode(String.self, at: 5)
    expirationTime = try row.decode(Date?.self, at: 6)
    createdAt = try row.decode(Date.self, at: 7)
    lastPushedAt = try row.decode(Date?.self, at: 8)
  }

  /// The subscription as its owner sees it (the keys are write-only).
  var message: Courier_Iris_V1_PushSubscription {
    var message = Courier_Iris_V1_PushSubscription()
    message.subscriptionID = id.uuidString.lowercased()
    message.endpoint = endpoint
    message.userAgent = userAgent
    if let expirationTime { message.expirationTime = Google_Protobuf_Timestamp(microsecondsOf: expirationTime) }
    message.createdAt = Google_Protobuf_Timestamp(microsecondsOf: createdAt)
    if let lastPushedAt { message.lastPushedAt = Google_Protobuf_Timestamp(microsecondsOf: lastPushedAt) }
    return message
  }
}

/// `iris.push_subscriptions`: the browsers each user registered for web push.
final class PushSubscriptionStore: Sendable {
  /// The most subscriptions one user may hold.
  static let limitPerUser = 20

  let pool: PostgresPool

  init(pool: PostgresPool) {
    self.pool = pool
  }

  enum RegisterError: Error {
    case tooMany
  }

  /// Registers `endpoint` for `userID`, or takes over the existing row of the same endpoint (new
  /// keys and owner, same id). Serialized per user so that the limit holds under concurrent calls.
  func register(
    userID: UUID, endpoint: String, p256dh: String, auth: String, userAgent: String, expirationTime: Date?
  ) async throws -> StoredPushSubscription {
    try await pool.withTransaction { tx in
      try await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(\(userID.uuidString), 7301))")
      let existing = try await tx.query(
        "SELECT user_id FROM iris.push_subscriptions WHERE endpoint = \(endpoint) FOR UPDATE")
      let alreadyMine = try existing.first.map { try $0.decode(UUID.self, at: 0) == userID } ?? false
      if !alreadyMine {
        let count = try await tx.query("SELECT count(*) FROM iris.push_subscriptions WHERE user_id = \(userID)")
        if try (count.first?.decode(Int64.self, at: 0) ?? 0) >= Int64(Self.limitPerUser) {
          throw RegisterError.tooMany
        }
      }
      let rows = try await tx.query("""
        INSERT INTO iris.push_subscriptions (id, user_id, endpoint, p256dh, auth, user_agent, expiration_time)
        VALUES (\(UUID()), \(userID), \(endpoint), \(p256dh), \(auth), \(userAgent), \(expirationTime))
        ON CONFLICT (endpoint) DO UPDATE SET
          user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth,
          user_agent = EXCLUDED.user_agent, expiration_time = EXCLUDED.expiration_time, created_at = now()
        RETURNING \(sql: StoredPushSubscription.columns)
        """)
      guard let row = rows.first else { throw IrisStoreError.conflictVanished }
      return try StoredPushSubscription(row: row)
    }
  }

  /// Removes the user's subscription `id`; false when the user has none with that id.
  func remove(id: UUID, userID: UUID) async throws -> Bool {
    try await pool.execute("DELETE FROM iris.push_subscriptions WHERE id = \(id) AND user_id = \(userID)") > 0
  }

  /// Removes a subscription that its push service reported gone, whoever owns it.
  func removeGone(id: UUID) async throws {
    try await pool.execute("DELETE FROM iris.push_subscriptions WHERE id = \(id)")
  }

  /// The user's subscriptions, most recently registered first; expired ones are left out.
  func list(userID: UUID) async throws -> [StoredPushSubscription] {
    let rows = try await pool.query("""
      SELECT \(sql: StoredPushSubscription.columns) FROM iris.push_subscriptions
      WHERE user_id = \(userID) AND (expiration_time IS NULL OR expiration_time > now())
      ORDER BY created_at DESC, id
      """)
    return try rows.map(StoredPushSubscription.init(row:))
  }

  func markPushed(id: UUID) async throws {
    try await pool.execute("UPDATE iris.push_subscriptions SET last_pushed_at = now() WHERE id = \(id)")
  }
}
