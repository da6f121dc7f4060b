import ContractRuntime
import Foundation
package import Generated
import GRPCCore
import Postgres

extension HermesCore {
  /// Registers an Asgardian user with the deliverer role as a deliverer
  /// (DeliveryAdminService.RegisterDeliverer).
  package func registerDeliverer(_ request: Courier_Hermes_V1_RegisterDelivererRequest) async throws -> DelivererRow {
    _ = try requireRole("admin")
    let userID = try Validation.uuid(request.userID, field: "user_id")
    let name = try Validation.length(request.displayName, field: "display_name", in: 1...100)
    let plate = try Validation.length(request.vehicle.plate, field: "vehicle.plate", in: 0...20)
    if case .UNRECOGNIZED(let value) = request.vehicle.kind {
      throw Validation.invalid("vehicle.kind", "\(value) is not a VehicleKind")
    }
    let kind = request.vehicle.kind.rawValue
    return try await rpc {
      guard let user = try await lookUpUser(userID), !user.disabled, !user.deleted else {
        throw RPCError(code: .failedPrecondition, message: "user \(userID.text) does not exist, is disabled or is deleted")
      }
      guard user.roles.contains(.deliverer) else {
        throw RPCError(code: .failedPrecondition, message: "user \(userID.text) lacks ROLE_DELIVERER")
      }
      do {
        return try await pool.withTransaction { tx in
          let id = UUID()
          try await tx.execute(
            """
            INSERT INTO hermes.deliverers (id, user_id, display_name, vehicle_kind, vehicle_plate, created_at)
            VALUES (\(id), \(userID), \(name), \(kind), \(plate), \(now()))
            """)
          return try DelivererRow(try await tx.query("SELECT * FROM hermes.deliverer_rows WHERE id = \(id)")[0])
        }
      } catch let error as PostgresError where error.sqlState == SQLState.uniqueViolation {
        throw RPCError(code: .alreadyExists, message: "user \(userID.text) is already registered as a deliverer")
      }
    }
  }

  /// One page of deliverers by display name (DeliveryAdminService.ListDeliverers).
  package func listDeliverers(
    _ request: Courier_Hermes_V1_ListDeliverersRequest
  ) async throws -> ([DelivererRow], Courier_Common_V1_PageInfo) {
    _ = try requireRole("admin")
    let page = try Paging(request.page, filterKey: "d")
    return try await rpc {
      let total = try await pool.query("SELECT count(*) FROM hermes.deliverers")[0].decode(Int.self, at: 0)
      let rows = try await pool.query(
        "SELECT * FROM hermes.deliverer_rows ORDER BY display_name, id LIMIT \(page.size) OFFSET \(page.offset)")
      return (try rows.map(DelivererRow.init), page.info(total: total))
    }
  }

  /// The caller as a registered deliverer: PERMISSION_DENIED without the role, FAILED_PRECONDITION
  /// when not registered.
  func requireDeliverer() async throws -> DelivererRow {
    let caller = try requireRole("deliverer")
    let userID = try userID(of: caller)
    guard let deliverer = try await rpc({ try await deliverer(userID: userID) }) else {
      throw RPCError(code: .failedPrecondition, message: "you are not registered as a deliverer")
    }
    return deliverer
  }

  /// The caller's open work, oldest assignment first (DelivererService.ListAssignedPayloads).
  package func assignedPayloads() async throws -> [PayloadRow] {
    let deliverer = try await requireDeliverer()
    return try await rpc {
      try await pool.query(
        """
        SELECT * FROM hermes.payloads WHERE deliverer_id = \(deliverer.id) AND status IN (1, 2, 3)
        ORDER BY assigned_at, id
        """
      ).map(PayloadRow.init)
    }
  }
}
