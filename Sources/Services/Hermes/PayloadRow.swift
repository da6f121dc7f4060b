import ContractRuntime
package import Foundation
package import Generated
package import Postgres
import SwiftProtobuf

/// One row of `hermes.payloads`.
package struct PayloadRow: Sendable {
  package var id: UUID
  package var trackingCode: String
  package var title: String
  package var description: String
  package var recipientUserID: UUID
  package var status: Courier_Hermes_V1_DeliveryPayloadStatus
  package var delivererID: UUID?
  package var location: Courier_Common_V1_Location?
  package var createdAt: Date
  package var updatedAt: Date
  package var receiptGeneratedAt: Date?
  /// Where it is going; nil until an admin sets it.
  package var destination: Courier_Common_V1_GeoPoint?
  /// The arrival estimate of its last fix; nil without one.
  package var arrivalEstimate: Courier_Hermes_V1_ArrivalEstimate?

  /// Decodes a row of `SELECT * FROM hermes.payloads`, by column name.
  package init(_ row: PostgresRow) throws {
    id = try row.decode(UUID.self, column: "id")
    trackingCode = try row.decode(String.self, column: "tracking_code")
    title = try row.decode(String.self, column: "title")
    description = try row.decode(String.self, column: "description")
    recipientUserID = try row.decode(UUID.self, column: "recipient_user_id")
    status = Courier_Hermes_V1_DeliveryPayloadStatus(rawValue: try row.decode(Int.self, column: "status")) ?? .unspecified
    delivererID = try row.decode(UUID?.self, column: "deliverer_id")
    location = try LocationColumns.decode(row)
    createdAt = try row.decode(Date.self, column: "created_at")
    updatedAt = try row.decode(Date.self, column: "updated_at")
    receiptGeneratedAt = try row.decode(Date?.self, column: "receipt_generated_at")
    if let lat = try row.decode(Double?.self, column: "dest_lat"), let lon = try row.decode(Double?.self, column: "dest_lon") {
      var point = Courier_Common_V1_GeoPoint()
      point.latitude = lat
      point.longitude = lon
      destination = point
    }
    if let etaAt = try row.decode(Date?.self, column: "eta_at"), let fixAt = try row.decode(Date?.self, column: "eta_fix_at") {
      arrivalEstimate = Self.arrivalEstimate(
        at: etaAt, fixAt: fixAt, remainingMeters: try row.decode(Double?.self, column: "eta_remaining_m"),
        remainingSeconds: try row.decode(Double?.self, column: "eta_remaining_s"),
        smoothedSpeed: try row.decode(Double?.self, column: "smoothed_speed_mps"))
    }
  }

  /// The estimate that a row with `eta_at` and `eta_fix_at` set holds, from its `eta_*` and
  /// `smoothed_speed_mps` columns (a NULL reads as 0).
  static func arrivalEstimate(
    at etaAt: Date, fixAt: Date, remainingMeters: Double?, remainingSeconds: Double?, smoothedSpeed: Double?
  ) -> Courier_Hermes_V1_ArrivalEstimate {
    var estimate = Courier_Hermes_V1_ArrivalEstimate()
    estimate.estimatedArrivalAt = Google_Protobuf_Timestamp(microsecondsOf: etaAt)
    estimate.remainingDistanceMeters = remainingMeters ?? 0
    estimate.remainingSeconds = remainingSeconds ?? 0
    estimate.smoothedSpeedMetersPerSecond = smoothedSpeed ?? 0
    estimate.computedAt = Google_Protobuf_Timestamp(microsecondsOf: fixAt)
    return estimate
  }

  /// True for DELIVERED and FAILED.
  package var isFinal: Bool { status == .delivered || status == .failed }

  /// The proto form.
  package var message: Courier_Hermes_V1_DeliveryPayload {
    var payload = Courier_Hermes_V1_DeliveryPayload()
    payload.deliveryPayloadID = id.text
    payload.trackingCode = trackingCode
    payload.title = title
    payload.description_p = description
    payload.recipientUserID = recipientUserID.text
    payload.status = status
    payload.delivererID = delivererID?.text ?? ""
    if let location { payload.lastLocation = location }
    payload.createdAt = Google_Protobuf_Timestamp(microsecondsOf: createdAt)
    payload.updatedAt = Google_Protobuf_Timestamp(microsecondsOf: updatedAt)
    if let receiptGeneratedAt { payload.receiptGeneratedAt = Google_Protobuf_Timestamp(microsecondsOf: receiptGeneratedAt) }
    if let destination { payload.destination = destination }
    if let arrivalEstimate { payload.arrivalEstimate = arrivalEstimate }
    return payload
  }

  /// What a watcher of the payload is sent.
  package var update: Courier_Hermes_V1_WatchPayloadPositionsResponse {
    var update = Courier_Hermes_V1_WatchPayloadPositionsResponse()
    update.payloadTrackingCode = trackingCode
    update.payloadStatus = status
    if let location { update.location = location }
    update.updatedAt = Google_Protobuf_Timestamp(microsecondsOf: updatedAt)
    if let destination { update.destination = destination }
    if let arrivalEstimate { update.arrivalEstimate = arrivalEstimate }
    return update
  }
}
