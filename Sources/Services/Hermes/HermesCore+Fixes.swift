import ContractRuntime
import EventSource
import Foundation
package import Generated
import GRPCCore
import Postgres
import SwiftProtobuf

/// What became of one position fix.
package struct FixOutcome: Sendable, Hashable {
  /// Nil when the fix was accepted.
  package var rejection: Courier_Hermes_V1_LocationRejectionReason?
  /// How many carried payloads it moved (one `DeliveryPayloadChangedLocation` each).
  package var movedPayloads: Int
}

extension HermesCore {
  /// Checks and keeps one fix of the calling deliverer (DelivererService.ReportLocationFix).
  package func reportFix(_ location: Courier_Common_V1_Location?) async throws -> FixOutcome {
    let deliverer = try await requireDeliverer()
    return try await rpc { try await keepFix(location, of: deliverer.id) }
  }

  /// Checks `location` against the deliverer's last accepted fix and, when it passes, makes it the
  /// deliverer's position and appends `DeliveryPayloadChangedLocation` for every payload the
  /// deliverer carries (PICKED_UP or IN_TRANSIT), all in one transaction. The deliverer's row is
  /// locked, so fixes of one deliverer are checked one after the other.
  func keepFix(_ location: Courier_Common_V1_Location?, of delivererID: UUID) async throws -> FixOutcome {
    let headers = eventHeaders
    let validator = configuration.fixes
    return try await pool.withTransaction { tx in
      // Lock first, then read the previous fix: concurrent fixes of one deliverer see each other.
      _ = try await tx.query("SELECT 1 FROM hermes.deliverers WHERE id = \(delivererID) FOR UPDATE")
      guard let row = try await tx.query("SELECT * FROM hermes.deliverer_rows WHERE id = \(delivererID)").first else {
        throw RPCError(code: .failedPrecondition, message: "you are not registered as a deliverer")
      }
      let deliverer = try DelivererRow(row)
      let moment = now()
      if let reason = validator.rejection(of: location, previous: deliverer.previousFix, now: moment) {
        return FixOutcome(rejection: reason, movedPayloads: 0)
      }
      guard let location else { return FixOutcome(rejection: .missingPoint, movedPayloads: 0) }
      let recordedAt = location.recordedAt.date
      try await tx.execute(
        """
        UPDATE hermes.deliverers SET
          lat = \(location.point.latitude), lon = \(location.point.longitude), accuracy_m = \(location.accuracyMeters),
          speed_mps = \(location.speedMetersPerSecond), heading_deg = \(location.headingDegrees),
          altitude_m = \(location.altitudeMeters), recorded_at = \(recordedAt), last_seen_at = \(moment)
        WHERE id = \(delivererID)
        """)
      let carried = try await tx.query(
        """
        SELECT id, recipient_user_id FROM hermes.payloads
        WHERE deliverer_id = \(delivererID) AND status IN (2, 3) ORDER BY id
        """)
      for payload in carried {
        let (payloadID, recipient) = try payload.decode((UUID, UUID).self)
        var event = Courier_Events_V1_DeliveryPayloadChangedLocation()
        event.userID = recipient.text
        event.deliveryPayloadID = payloadID.text
        event.location = location
        event.delivererID = delivererID.text
        event.occurredAt = Google_Protobuf_Timestamp(date: moment)
        try await events.append(event, in: tx, headers: headers, occurredAt: moment)
      }
      var live = Courier_Hermes_V1_WatchDelivererPositionsResponse()
      live.delivererID = delivererID.text
      live.displayName = deliverer.displayName
      live.location = location
      live.receivedAt = Google_Protobuf_Timestamp(date: moment)
      try await PositionHub.publish(live, in: tx)
      return FixOutcome(rejection: nil, movedPayloads: carried.count)
    }
  }
}
