import ContractRuntime
import Foundation
package import Generated
import GRPCCore
import Postgres
import SwiftProtobuf

extension HermesCore {
  /// Subscribes the caller to a payload, or renames an existing subscription
  /// (TrackingService.CreatePayloadSubscription).
  package func subscribe(
    _ request: Courier_Hermes_V1_CreatePayloadSubscriptionRequest
  ) async throws -> Courier_Hermes_V1_PayloadSubscription {
    let caller = try requireCaller()
    let userID = try userID(of: caller)
    let code = try Validation.trackingCode(request.payloadTrackingCode)
    let title = try Validation.length(
      request.title.trimmingCharacters(in: .whitespacesAndNewlines), field: "title", in: 1...100)
    let limit = configuration.maxSubscriptions
    return try await rpc {
      try await pool.withTransaction { tx in
        // Serializes one person's subscribes, so the limit holds under concurrency.
        try await tx.advisoryLock(Self.lockKey(userID))
        guard let payload = try await tx.query("SELECT * FROM hermes.payloads WHERE tracking_code = \(code)").first
          .map(PayloadRow.init)
        else {
          throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
        }
        guard !payload.isFinal else {
          throw RPCError(code: .failedPrecondition, message: "payload \(code) is \(payload.status); there is nothing left to follow")
        }
        let existing = try await tx.query(
          "SELECT 1 FROM hermes.subscriptions WHERE user_id = \(userID) AND payload_id = \(payload.id)")
        if existing.isEmpty {
          let count = try await tx.query("SELECT count(*) FROM hermes.subscriptions WHERE user_id = \(userID)")[0]
            .decode(Int.self, at: 0)
          guard count < limit else {
            throw RPCError(code: .resourceExhausted, message: "you already follow \(limit) payloads; remove one first")
          }
        }
        try await tx.execute(
          """
          INSERT INTO hermes.subscriptions (user_id, payload_id, title, subscribed_at)
          VALUES (\(userID), \(payload.id), \(title), \(now()))
          ON CONFLICT (user_id, payload_id) DO UPDATE SET title = EXCLUDED.title
          """)
        let rows = try await tx.query(
          """
          SELECT p.*, s.title AS subscription_title, s.subscribed_at FROM hermes.subscriptions s
          JOIN hermes.payloads p ON p.id = s.payload_id
          WHERE s.user_id = \(userID) AND s.payload_id = \(payload.id)
          """)
        return try Self.subscription(rows[0])
      }
    }
  }

  /// Unsubscribes the caller (TrackingService.RemovePayloadSubscription); true when a row went.
  package func unsubscribe(_ request: Courier_Hermes_V1_RemovePayloadSubscriptionRequest) async throws -> Bool {
    let caller = try requireCaller()
    let userID = try userID(of: caller)
    let code = try Validation.trackingCode(request.payloadTrackingCode)
    return try await rpc {
      guard let payload = try await payload(code: code) else {
        throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
      }
      let removed = try await pool.execute(
        "DELETE FROM hermes.subscriptions WHERE user_id = \(userID) AND payload_id = \(payload.id)")
      return removed > 0
    }
  }

  /// The caller's subscriptions, most recently changed first (TrackingService.GetAllPayloadSubscriptions).
  package func subscriptions() async throws -> [Courier_Hermes_V1_PayloadSubscription] {
    let caller = try requireCaller()
    let userID = try userID(of: caller)
    return try await rpc { try await subscriptions(of: userID) }
  }

  func subscriptions(of userID: UUID) async throws -> [Courier_Hermes_V1_PayloadSubscription] {
    let rows = try await pool.query(
      """
      SELECT p.*, s.title AS subscription_title, s.subscribed_at FROM hermes.subscriptions s
      JOIN hermes.payloads p ON p.id = s.payload_id
      WHERE s.user_id = \(userID)
      ORDER BY p.updated_at DESC, p.tracking_code DESC
      """)
    return try rows.map(Self.subscription)
  }

  /// A subscription from a row of payloads joined with `subscription_title` and `subscribed_at`.
  static func subscription(_ row: PostgresRow) throws -> Courier_Hermes_V1_PayloadSubscription {
    let payload = try PayloadRow(row)
    var subscription = Courier_Hermes_V1_PayloadSubscription()
    subscription.payloadTrackingCode = payload.trackingCode
    subscription.title = try row.decode(String.self, column: "subscription_title")
    subscription.payloadStatus = payload.status
    if let location = payload.location { subscription.lastLocation = location }
    subscription.updatedAt = Google_Protobuf_Timestamp(microsecondsOf: payload.updatedAt)
    subscription.subscribedAt = Google_Protobuf_Timestamp(microsecondsOf: try row.decode(Date.self, column: "subscribed_at"))
    if let destination = payload.destination { subscription.destination = destination }
    if let estimate = payload.arrivalEstimate { subscription.arrivalEstimate = estimate }
    return subscription
  }

  /// An advisory lock key per user.
  static func lockKey(_ id: UUID) -> Int64 {
    let bytes = id.uuid
    var key: Int64 = 0x4845_524D  // "HERM"
    for byte in [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5, bytes.6, bytes.7] {
      key = (key &<< 8) ^ Int64(byte) &* 31
    }
    return key
  }

  // MARK: Receipts

  /// A payload's receipt (TrackingService.GetPayloadReceipt): the recipient and admins only.
  package func receipt(
    _ request: Courier_Hermes_V1_GetPayloadReceiptRequest
  ) async throws -> Courier_Hermes_V1_GetPayloadReceiptResponse {
    let caller = try requireCaller()
    let code = try Validation.trackingCode(request.payloadTrackingCode)
    return try await rpc {
      guard let payload = try await payload(code: code) else {
        throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
      }
      guard caller.roles.contains("admin") || caller.userID == payload.recipientUserID.text else {
        throw RPCError(code: .permissionDenied, message: "only the payload's recipient and admins may read its receipt")
      }
      guard let row = try await pool.query(
        "SELECT object_key, generated_at FROM hermes.receipts WHERE payload_id = \(payload.id)"
      ).first else {
        throw RPCError(code: .unavailable, message: "the receipt of \(code) is not rendered yet; retry in a few seconds")
      }
      let (key, generatedAt) = try row.decode((String, Date).self)
      guard let content = try await bucket.get(key: key) else {
        throw RPCError(code: .unavailable, message: "the receipt of \(code) is not in the bucket; retry in a few seconds")
      }
      var response = Courier_Hermes_V1_GetPayloadReceiptResponse()
      response.contentType = "application/pdf"
      response.content = content
      response.fileName = "receipt-\(code).pdf"
      response.generatedAt = Google_Protobuf_Timestamp(microsecondsOf: generatedAt)
      return response
    }
  }
}
