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
    let request = FixRequest(delivererID: delivererID, locations: locations, headers: eventHeaders)
    return try await keepFixes([request])[0].get()
  }

  /// Several deliverers' fixes in one transaction (``FixIntake`` gathers them): their rows are
  /// locked in id order, every request is checked as ``keepFixes(_:of:)`` checks it (two requests
  /// of one deliverer in request order), and the deliverers' rows are updated, their carried
  /// payloads read and their live positions sent in one statement each, whatever the number of
  /// deliverers. All requests' events are one append (each with its request's headers), in request
  /// order. The NOTIFY and the append are queued and travel with the COMMIT. A deliverer that is not
  /// registered fails its own request only; a database error fails them all.
  func keepFixes(_ requests: [FixRequest]) async throws -> [Result<[FixOutcome], RPCError>] {
    let validator = configuration.fixes
    let ids = Array(Set(requests.map(\.delivererID))).sorted { $0.uuidString < $1.uuidString }
    return try await pool.withTransaction { tx in
      // Lock first, then read the previous fixes: concurrent fixes of one deliverer see each other.
      // (The lock travels with the read, in one round trip; the server still runs it first.)
      try tx.enqueue("SELECT 1 FROM hermes.deliverers WHERE id = ANY(\(PostgresArray(ids))) ORDER BY id FOR UPDATE")
      var deliverers: [UUID: DelivererRow] = [:]
      for row in try await tx.query("SELECT * FROM hermes.deliverer_rows WHERE id = ANY(\(PostgresArray(ids)))") {
        let deliverer = try DelivererRow(row)
        deliverers[deliverer.id] = deliverer
      }
      let moment = now()
      var last: [UUID: Courier_Common_V1_Location] = [:]
      var accepted: [[Courier_Common_V1_Location]] = []
      var results: [Result<[FixOutcome], RPCError>] = []
      for request in requests {
        guard let deliverer = deliverers[request.delivererID] else {
          results.append(.failure(RPCError(code: .failedPrecondition, message: "you are not registered as a deliverer")))
          accepted.append([])
          continue
        }
        // A deliverer's earlier request in this batch left its newest fix in `last`.
        var before = last[deliverer.id].map(FixValidator.Previous.init) ?? deliverer.previousFix
        var kept: [Courier_Common_V1_Location] = []
        var outcomes: [FixOutcome] = []
        for location in request.locations {
          if let reason = validator.rejection(of: location, previous: before, now: moment) {
            outcomes.append(FixOutcome(rejection: reason, movedPayloads: 0))
            continue
          }
          guard let location else {
            outcomes.append(FixOutcome(rejection: .missingPoint, movedPayloads: 0))
            continue
          }
          kept.append(location)
          before = FixValidator.Previous(location)
          outcomes.append(FixOutcome(rejection: nil, movedPayloads: 0))
        }
        if let newest = kept.last { last[deliverer.id] = newest }
        accepted.append(kept)
        results.append(.success(outcomes))
      }
      guard !last.isEmpty else { return results }
      let moved = last.keys.sorted { $0.uuidString < $1.uuidString }
      let newest = moved.map { last[$0]! }
      try tx.enqueue(
        """
        UPDATE hermes.deliverers AS d SET
          lat = u.lat, lon = u.lon, accuracy_m = u.accuracy_m, speed_mps = u.speed_mps, heading_deg = u.heading_deg,
          altitude_m = u.altitude_m, recorded_at = u.recorded_at, last_seen_at = \(moment)
        FROM unnest(
          \(PostgresArray(moved)), \(PostgresArray(newest.map(\.point.latitude))), \(PostgresArray(newest.map(\.point.longitude))),
          \(PostgresArray(newest.map(\.accuracyMeters))), \(PostgresArray(newest.map(\.speedMetersPerSecond))),
          \(PostgresArray(newest.map(\.headingDegrees))), \(PostgresArray(newest.map(\.altitudeMeters))),
          \(PostgresArray(newest.map(\.recordedAt.date)))
        ) AS u(id, lat, lon, accuracy_m, speed_mps, heading_deg, altitude_m, recorded_at)
        WHERE d.id = u.id
        """)
      var carried: [UUID: [(payloadID: UUID, recipient: UUID)]] = [:]
      for row in try await tx.query(
        """
        SELECT deliverer_id, id, recipient_user_id FROM hermes.payloads
        WHERE deliverer_id = ANY(\(PostgresArray(moved))) AND status IN (2, 3) ORDER BY deliverer_id, id
        """)
      {
        let (delivererID, payloadID, recipient) = try row.decode((UUID, UUID, UUID).self)
        carried[delivererID, default: []].append((payloadID, recipient))
      }
      // The live map gets the newest fix of each deliverer: where it is now. (A batch of several
      // is a device uploading fixes it queued; its path is in the payloads' history.)
      try PositionHub.publish(
        zip(moved, newest).map { delivererID, location in
          var live = Courier_Hermes_V1_WatchDelivererPositionsResponse()
          live.delivererID = delivererID.text
          live.displayName = deliverers[delivererID]!.displayName
          live.location = location
          live.receivedAt = Google_Protobuf_Timestamp(microsecondsOf: moment)
          return live
        }, in: tx)
      var changes: [(event: Courier_Events_V1_DeliveryPayloadChangedLocation, headers: [String: String])] = []
      for (index, request) in requests.enumerated() where !accepted[index].isEmpty {
        let payloads = carried[request.delivererID] ?? []
        for location in accepted[index] {
          for (payloadID, recipient) in payloads {
            var event = Courier_Events_V1_DeliveryPayloadChangedLocation()
            event.userID = recipient.text
            event.deliveryPayloadID = payloadID.text
            event.location = location
            event.delivererID = request.delivererID.text
            event.occurredAt = Google_Protobuf_Timestamp(microsecondsOf: moment)
            changes.append((event, request.headers))
          }
        }
        results[index] = results[index].map { outcomes in
          outcomes.map { $0.rejection == nil ? FixOutcome(rejection: nil, movedPayloads: payloads.count) : $0 }
        }
      }
      try await events.append(contentsOf: changes, in: tx, occurredAt: moment)
      return results
    }
  }
}

/// One caller's fixes for ``HermesCore/keepFixes(_:)``.
struct FixRequest: Sendable {
  var delivererID: UUID
  var locations: [Courier_Common_V1_Location?]
  /// The headers of the events this request appends (its call's request id).
  var headers: [String: String]
}
