import ContractRuntime
import EventSource
import Foundation
package import Generated
import GRPCCore
import Postgres
import SwiftProtobuf

/// A payload with its status history (DeliveryAdminService.GetDeliveryPayload).
package struct PayloadWithHistory: Sendable {
  package var payload: PayloadRow
  package var history: [Courier_Hermes_V1_DeliveryPayloadStatusChange]
}

extension HermesCore {
  // MARK: Register

  /// Registers a payload in status REGISTERED with a fresh tracking code and appends
  /// `DeliveryPayloadRegistered` in the same transaction. Checks every field, then the recipient with
  /// Asgardian, before anything is written. A repeated `request_id` returns the first call's payload.
  package func registerPayload(_ request: Courier_Hermes_V1_RegisterDeliveryPayloadRequest) async throws -> PayloadRow {
    let caller = try requireRole("admin")
    let adminID = try userID(of: caller)
    let title = try Validation.length(request.title, field: "title", in: 1...100)
    let description = try Validation.length(request.description_p, field: "description", in: 0...2_000)
    let recipient = try Validation.uuid(request.recipientUserID, field: "recipient_user_id")
    let requestID = request.requestID.isEmpty ? nil : try Validation.uuid(request.requestID, field: "request_id")
    let destination = request.hasDestination ? try Validation.point(request.destination, field: "destination") : nil
    return try await rpc {
      if let requestID, let existing = try await payload(requestID: requestID) { return existing }
      guard let user = try await lookUpUser(recipient), !user.disabled, !user.deleted else {
        throw RPCError(code: .failedPrecondition, message: "recipient \(recipient.text) does not exist, is disabled or is deleted")
      }
      let headers = eventHeaders
      do {
        return try await pool.withTransaction { tx in
          let moment = now()
          let id = UUID()
          let code = try await freshCode(in: tx)
          try await tx.execute(
            """
            INSERT INTO hermes.payloads
              (id, tracking_code, title, description, recipient_user_id, status, request_id, created_at, updated_at,
               dest_lat, dest_lon)
            VALUES (\(id), \(code), \(title), \(description), \(recipient), 1, \(requestID), \(moment), \(moment),
                    \(destination?.latitude), \(destination?.longitude))
            """)
          try await tx.execute(
            """
            INSERT INTO hermes.status_history (payload_id, status, changed_at, changed_by)
            VALUES (\(id), 1, \(moment), \(adminID))
            """)
          var event = Courier_Events_V1_DeliveryPayloadRegistered()
          event.deliveryPayloadID = id.text
          event.trackingCode = code
          event.recipientUserID = recipient.text
          event.occurredAt = Google_Protobuf_Timestamp(microsecondsOf: moment)
          try await events.append(event, in: tx, headers: headers, occurredAt: moment)
          guard let row = try await payload(id: id, in: tx) else {
            throw RPCError(code: .internalError, message: "the new payload \(id) cannot be read back")
          }
          return row
        }
      } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation && requestID != nil {
        // A concurrent call with the same request id won.
        if let requestID, let existing = try await payload(requestID: requestID) { return existing }
        throw error
      }
    }
  }

  /// A code no payload has yet (a collision is astronomically unlikely, but checked).
  private func freshCode(in tx: PostgresTransaction) async throws -> String {
    for _ in 0..<5 {
      let code = TrackingCode.make()
      if try await tx.query("SELECT 1 FROM hermes.payloads WHERE tracking_code = \(code)").isEmpty { return code }
    }
    throw RPCError(code: .internalError, message: "no free tracking code after 5 draws")
  }

  private func payload(requestID: UUID) async throws -> PayloadRow? {
    try await pool.query("SELECT * FROM hermes.payloads WHERE request_id = \(requestID)").first.map(PayloadRow.init)
  }

  // MARK: Read

  /// One page of payloads, newest first, filtered (DeliveryAdminService.ListDeliveryPayloads).
  package func listPayloads(
    _ request: Courier_Hermes_V1_ListDeliveryPayloadsRequest
  ) async throws -> ([PayloadRow], Courier_Common_V1_PageInfo) {
    _ = try requireRole("admin")
    if case .UNRECOGNIZED(let value) = request.status {
      throw Validation.invalid("status", "\(value) is not a DeliveryPayloadStatus")
    }
    let deliverer = request.delivererID.isEmpty ? nil : try Validation.uuid(request.delivererID, field: "deliverer_id")
    let recipient = request.recipientUserID.isEmpty
      ? nil : try Validation.uuid(request.recipientUserID, field: "recipient_user_id")
    let status = request.status == .unspecified ? nil : request.status.rawValue
    let filterKey = "p\(status ?? 0)-\(deliverer?.text ?? "")-\(recipient?.text ?? "")"
    let page = try Paging(request.page, filterKey: filterKey)
    return try await rpc {
      let total = try await pool.query(
        """
        SELECT count(*) FROM hermes.payloads
        WHERE (\(status)::int IS NULL OR status = \(status)::int)
          AND (\(deliverer)::uuid IS NULL OR deliverer_id = \(deliverer)::uuid)
          AND (\(recipient)::uuid IS NULL OR recipient_user_id = \(recipient)::uuid)
        """)[0].decode(Int.self, at: 0)
      let rows = try await pool.query(
        """
        SELECT * FROM hermes.payloads
        WHERE (\(status)::int IS NULL OR status = \(status)::int)
          AND (\(deliverer)::uuid IS NULL OR deliverer_id = \(deliverer)::uuid)
          AND (\(recipient)::uuid IS NULL OR recipient_user_id = \(recipient)::uuid)
        ORDER BY created_at DESC, id DESC
        LIMIT \(page.size) OFFSET \(page.offset)
        """)
      return (try rows.map(PayloadRow.init), page.info(total: total))
    }
  }

  /// One payload with its history (DeliveryAdminService.GetDeliveryPayload).
  package func getPayload(_ request: Courier_Hermes_V1_GetDeliveryPayloadRequest) async throws -> PayloadWithHistory {
    _ = try requireRole("admin")
    let id = try Validation.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    return try await rpc {
      try await pool.withTransaction(isolation: .repeatableRead) { tx in
        guard let payload = try await payload(id: id, in: tx) else {
          throw RPCError(code: .notFound, message: "no payload has id \(id.text)")
        }
        let rows = try await tx.query(
          "SELECT status, changed_at, changed_by, note FROM hermes.status_history WHERE payload_id = \(id) ORDER BY seq")
        let history = try rows.map { row in
          let (status, changedAt, changedBy, note) = try row.decode((Int, Date, UUID, String).self)
          var change = Courier_Hermes_V1_DeliveryPayloadStatusChange()
          change.status = Courier_Hermes_V1_DeliveryPayloadStatus(rawValue: status) ?? .unspecified
          change.changedAt = Google_Protobuf_Timestamp(microsecondsOf: changedAt)
          change.changedByUserID = changedBy.text
          change.note = note
          return change
        }
        return PayloadWithHistory(payload: payload, history: history)
      }
    }
  }

  // MARK: Change

  /// Moves a payload along its lifecycle (DeliveryAdminService.UpdateDeliveryPayloadStatus) and tells
  /// its watchers.
  package func updateStatus(_ request: Courier_Hermes_V1_UpdateDeliveryPayloadStatusRequest) async throws -> PayloadRow {
    let caller = try requireRole("admin")
    let adminID = try userID(of: caller)
    let id = try Validation.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    let target = request.status
    guard target != .unspecified, case .some = Courier_Hermes_V1_DeliveryPayloadStatus(rawValue: target.rawValue),
      (1...5).contains(target.rawValue)
    else {
      throw Validation.invalid("status", "must be one of REGISTERED, PICKED_UP, IN_TRANSIT, DELIVERED, FAILED")
    }
    let note = try Validation.length(request.note, field: "note", in: 0...500)
    let headers = eventHeaders
    return try await rpc {
      try await pool.withTransaction { tx in
        guard let current = try await payload(id: id, in: tx, lock: true) else {
          throw RPCError(code: .notFound, message: "no payload has id \(id.text)")
        }
        if current.status == target { return current }
        if let problem = StatusRules.problem(from: current.status, to: target, hasDeliverer: current.delivererID != nil) {
          throw RPCError(code: .failedPrecondition, message: problem)
        }
        let moment = now()
        // A final status ends the trip: no arrival to estimate any more.
        try await tx.execute(
          """
          UPDATE hermes.payloads SET status = \(target.rawValue), updated_at = \(moment),
            eta_at = CASE WHEN \(target.rawValue) IN (4, 5) THEN NULL ELSE eta_at END,
            eta_fix_at = CASE WHEN \(target.rawValue) IN (4, 5) THEN NULL ELSE eta_fix_at END
          WHERE id = \(id)
          """)
        var changed = Courier_Events_V1_DeliveryPayloadStatusChanged()
        changed.deliveryPayloadID = id.text
        changed.recipientUserID = current.recipientUserID.text
        changed.status = Int32(target.rawValue)
        changed.previousStatus = Int32(current.status.rawValue)
        changed.occurredAt = Google_Protobuf_Timestamp(microsecondsOf: moment)
        try await events.append(changed, in: tx, headers: headers, occurredAt: moment)
        try await tx.execute(
          """
          INSERT INTO hermes.status_history (payload_id, status, changed_at, changed_by, note)
          VALUES (\(id), \(target.rawValue), \(moment), \(adminID), \(note))
          """)
        guard let row = try await payload(id: id, in: tx) else {
          throw RPCError(code: .internalError, message: "payload \(id.text) vanished")
        }
        try await PositionHub.publish(row.update, in: tx)
        return row
      }
    }
  }

  /// Sets or clears a payload's destination (DeliveryAdminService.SetDeliveryPayloadDestination). The
  /// estimate is recomputed on the next fix.
  package func setDestination(_ request: Courier_Hermes_V1_SetDeliveryPayloadDestinationRequest) async throws -> PayloadRow {
    _ = try requireRole("admin")
    let id = try Validation.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    let destination = request.hasDestination ? try Validation.point(request.destination, field: "destination") : nil
    return try await rpc {
      try await pool.withTransaction { tx in
        guard let current = try await payload(id: id, in: tx, lock: true) else {
          throw RPCError(code: .notFound, message: "no payload has id \(id.text)")
        }
        if current.isFinal {
          throw RPCError(code: .failedPrecondition, message: "payload \(id.text) is \(current.status); its trip is over")
        }
        try await tx.execute(
          """
          UPDATE hermes.payloads SET dest_lat = \(destination?.latitude), dest_lon = \(destination?.longitude),
            eta_at = NULL, eta_fix_at = NULL, eta_remaining_m = NULL, eta_remaining_s = NULL, updated_at = \(now())
          WHERE id = \(id)
          """)
        guard let row = try await payload(id: id, in: tx) else {
          throw RPCError(code: .internalError, message: "payload \(id.text) vanished")
        }
        try await PositionHub.publish(row.update, in: tx)
        return row
      }
    }
  }

  /// Assigns, reassigns or unassigns a payload (DeliveryAdminService.AssignDeliveryPayload).
  package func assign(_ request: Courier_Hermes_V1_AssignDeliveryPayloadRequest) async throws -> PayloadRow {
    let caller = try requireRole("admin")
    let adminID = try userID(of: caller)
    let id = try Validation.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    let delivererID = request.delivererID.isEmpty ? nil : try Validation.uuid(request.delivererID, field: "deliverer_id")
    return try await rpc {
      try await pool.withTransaction { tx in
        guard let current = try await payload(id: id, in: tx, lock: true) else {
          throw RPCError(code: .notFound, message: "no payload has id \(id.text)")
        }
        if current.delivererID == delivererID { return current }
        if let delivererID, try await tx.query("SELECT 1 FROM hermes.deliverers WHERE id = \(delivererID)").isEmpty {
          throw RPCError(code: .failedPrecondition, message: "no deliverer has id \(delivererID.text)")
        }
        if current.isFinal {
          throw RPCError(code: .failedPrecondition, message: "payload \(id.text) is \(current.status); it can no longer be assigned")
        }
        if delivererID == nil && (current.status == .pickedUp || current.status == .inTransit) {
          throw RPCError(code: .failedPrecondition, message: "payload \(id.text) is being carried; it needs a deliverer")
        }
        let moment = now()
        try await tx.execute(
          """
          UPDATE hermes.payloads SET deliverer_id = \(delivererID), assigned_at = \(moment), updated_at = \(moment)
          WHERE id = \(id)
          """)
        try await tx.execute(
          """
          INSERT INTO hermes.assignments (payload_id, deliverer_id, assigned_at, assigned_by)
          VALUES (\(id), \(delivererID), \(moment), \(adminID))
          """)
        guard let row = try await payload(id: id, in: tx) else {
          throw RPCError(code: .internalError, message: "payload \(id.text) vanished")
        }
        return row
      }
    }
  }
}

/// Which status moves UpdateDeliveryPayloadStatus allows.
enum StatusRules {
  /// Nil when moving from `from` to `to` is allowed, else why not.
  static func problem(
    from: Courier_Hermes_V1_DeliveryPayloadStatus, to: Courier_Hermes_V1_DeliveryPayloadStatus, hasDeliverer: Bool
  ) -> String? {
    if from == .delivered || from == .failed { return "the payload is \(from), a final status" }
    if to == .failed { return nil }
    if to.rawValue < from.rawValue { return "the payload cannot go back from \(from) to \(to)" }
    if to != .registered && !hasDeliverer { return "the payload needs an assigned deliverer before \(to)" }
    return nil
  }
}
