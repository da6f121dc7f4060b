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
  /// deliverer carries (PICKED_UP or IN_TRANSIT), all in one transaction.
  func keepFix(_ location: Courier_Common_V1_Location?, of delivererID: UUID) async throws -> FixOutcome {
    try await keepFixes([location], of: delivererID)[0]
  }

  /// ``keepFix(_:of:)`` for several fixes of one deliverer, in order, in one transaction: each is
  /// checked against the last one accepted before it. The deliverer's row is locked, so fixes of
  /// one deliverer from several streams are checked one after the other. Returns one outcome per
  /// fix.
  func keepFixes(_ locations: [Courier_Common_V1_Location?], of delivererID: UUID) async throws -> [FixOutcome] {
    let headers = eventHeaders
    let validator = configuration.fixes
    return try await pool.withTransaction { tx in
      // Lock first, then read the previous fix: concurrent fixes of one deliverer see each other.
      // (The lock travels with the read, in one round trip; the server still runs it first.)
      try tx.enqueue("SELECT 1 FROM hermes.deliverers WHERE id = \(delivererID) FOR UPDATE")
      guard let row = try await tx.query("SELECT * FROM hermes.deliverer_rows WHERE id = \(delivererID)").first else {
        throw RPCError(code: .failedPrecondition, message: "you are not registered as a deliverer")
      }
      let deliverer = try DelivererRow(row)
      let moment = now()
      var previous = deliverer.previousFix
      var accepted: [Courier_Common_V1_Location] = []
      var outcomes: [FixOutcome] = []
      for location in locations {
        if let reason = validator.rejection(of: location, previous: previous, now: moment) {
          outcomes.append(FixOutcome(rejection: reason, movedPayloads: 0))
          continue
        }
        guard let location else {
          outcomes.append(FixOutcome(rejection: .missingPoint, movedPayloads: 0))
          continue
        }
        accepted.append(location)
        previous = FixValidator.Previous(
          latitude: location.point.latitude, longitude: location.point.longitude,
          accuracy: location.accuracyMeters, recordedAt: location.recordedAt.date)
        outcomes.append(FixOutcome(rejection: nil, movedPayloads: 0))
      }
      guard let last = accepted.last else { return outcomes }
      try tx.enqueue(
        """
        UPDATE hermes.deliverers SET
          lat = \(last.point.latitude), lon = \(last.point.longitude), accuracy_m = \(last.accuracyMeters),
          speed_mps = \(last.speedMetersPerSecond), heading_deg = \(last.headingDegrees),
          altitude_m = \(last.altitudeMeters), recorded_at = \(last.recordedAt.date), last_seen_at = \(moment)
        WHERE id = \(delivererID)
        """)
      let carried = try await tx.query(
        """
        SELECT id, recipient_user_id FROM hermes.payloads
        WHERE deliverer_id = \(delivererID) AND status IN (2, 3) ORDER BY id
        """)
      let payloads = try carried.map { try $0.decode((UUID, UUID).self) }
      var changes: [Courier_Events_V1_DeliveryPayloadChangedLocation] = []
      for location in accepted {
        for (payloadID, recipient) in payloads {
          var event = Courier_Events_V1_DeliveryPayloadChangedLocation()
          event.userID = recipient.text
          event.deliveryPayloadID = payloadID.text
          event.location = location
          event.delivererID = delivererID.text
          event.occurredAt = Google_Protobuf_Timestamp(microsecondsOf: moment)
          changes.append(event)
        }
      }
      // The live map gets the newest fix of the batch: where the deliverer is now. (A batch of
      // several is a device uploading fixes it queued; its path is in the payloads' history.)
      var live = Courier_Hermes_V1_WatchDelivererPositionsResponse()
      live.delivererID = delivererID.text
      live.displayName = deliverer.displayName
      live.location = last
      live.receivedAt = Google_Protobuf_Timestamp(microsecondsOf: moment)
      try await PositionHub.publish(live, in: tx)
      try await events.append(contentsOf: changes, in: tx, headers: headers, occurredAt: moment)
      return outcomes.map { $0.rejection == nil ? FixOutcome(rejection: nil, movedPayloads: payloads.count) : $0 }
    }
  }
}
