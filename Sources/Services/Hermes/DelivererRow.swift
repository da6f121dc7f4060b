import ContractRuntime
package import Foundation
package import Generated
package import Postgres
import SwiftProtobuf

/// One row of the view `hermes.deliverer_rows` (a deliverer with its `active_payload_count`).
package struct DelivererRow: Sendable {
  package var id: UUID
  package var userID: UUID
  package var displayName: String
  package var vehicle: Courier_Hermes_V1_Vehicle
  package var location: Courier_Common_V1_Location?
  package var lastSeenAt: Date?
  package var activePayloadCount: Int
  package var createdAt: Date

  package init(_ row: PostgresRow) throws {
    id = try row.decode(UUID.self, column: "id")
    userID = try row.decode(UUID.self, column: "user_id")
    displayName = try row.decode(String.self, column: "display_name")
    vehicle = Courier_Hermes_V1_Vehicle()
    vehicle.kind = Courier_Hermes_V1_VehicleKind(rawValue: try row.decode(Int.self, column: "vehicle_kind")) ?? .unspecified
    vehicle.plate = try row.decode(String.self, column: "vehicle_plate")
    location = try LocationColumns.decode(row)
    lastSeenAt = try row.decode(Date?.self, column: "last_seen_at")
    activePayloadCount = try row.decode(Int.self, column: "active_payload_count")
    createdAt = try row.decode(Date.self, column: "created_at")
  }

  /// The previous fix, as the validator needs it.
  package var previousFix: FixValidator.Previous? {
    location.map(FixValidator.Previous.init)
  }

  package var message: Courier_Hermes_V1_Deliverer {
    var deliverer = Courier_Hermes_V1_Deliverer()
    deliverer.delivererID = id.text
    deliverer.userID = userID.text
    deliverer.displayName = displayName
    deliverer.vehicle = vehicle
    if let location { deliverer.lastLocation = location }
    if let lastSeenAt { deliverer.lastSeenAt = Google_Protobuf_Timestamp(microsecondsOf: lastSeenAt) }
    deliverer.activePayloadCount = Int32(activePayloadCount)
    deliverer.createdAt = Google_Protobuf_Timestamp(microsecondsOf: createdAt)
    return deliverer
  }
}
