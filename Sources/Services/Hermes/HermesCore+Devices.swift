import ContractRuntime
import Crypto
package import Foundation
package import Generated
import GRPCCore
package import Postgres
import SwiftProtobuf

/// What became of one OsmAnd report.
package enum DeviceReportOutcome: Sendable, Equatable {
  /// No phone has the identifier, or it was revoked (the caller cannot tell which).
  case refused
  /// The report was checked like any fix: accepted, or rejected with a reason.
  case checked(FixOutcome)
}

extension HermesCore {
  /// Registers a phone for a deliverer and returns it with its fresh device identifier, shown once
  /// (DeliveryAdminService.RegisterDelivererDevice).
  package func registerDevice(
    _ request: Courier_Hermes_V1_RegisterDelivererDeviceRequest
  ) async throws -> (DeviceRow, identifier: String) {
    _ = try requireRole("admin")
    let delivererID = try Validation.uuid(request.delivererID, field: "deliverer_id")
    let label = try Validation.length(
      request.label.trimmingCharacters(in: .whitespacesAndNewlines), field: "label", in: 1...100)
    let identifier = DeviceIdentifier.make()
    return try await rpc {
      try await pool.withTransaction { tx in
        guard try await !tx.query("SELECT 1 FROM hermes.deliverers WHERE id = \(delivererID)").isEmpty else {
          throw RPCError(code: .notFound, message: "no deliverer has id \(delivererID.text)")
        }
        let id = UUID()
        try await tx.execute(
          """
          INSERT INTO hermes.devices (id, deliverer_id, label, identifier_sha256, identifier_hint, created_at)
          VALUES (\(id), \(delivererID), \(label), \(DeviceIdentifier.digest(identifier)),
                  \(String(identifier.prefix(DeviceIdentifier.hintLength))), \(now()))
          """)
        let row = try DeviceRow(try await tx.query("SELECT * FROM hermes.devices WHERE id = \(id)")[0])
        return (row, identifier)
      }
    }
  }

  /// A deliverer's phones, newest first (DeliveryAdminService.ListDelivererDevices).
  package func listDevices(_ request: Courier_Hermes_V1_ListDelivererDevicesRequest) async throws -> [DeviceRow] {
    _ = try requireRole("admin")
    let delivererID = try Validation.uuid(request.delivererID, field: "deliverer_id")
    return try await rpc {
      guard try await !pool.query("SELECT 1 FROM hermes.deliverers WHERE id = \(delivererID)").isEmpty else {
        throw RPCError(code: .notFound, message: "no deliverer has id \(delivererID.text)")
      }
      return try await pool.query(
        "SELECT * FROM hermes.devices WHERE deliverer_id = \(delivererID) ORDER BY created_at DESC, id"
      ).map(DeviceRow.init)
    }
  }

  /// Revokes a phone (DeliveryAdminService.RevokeDelivererDevice); a second revocation keeps the first time.
  package func revokeDevice(_ request: Courier_Hermes_V1_RevokeDelivererDeviceRequest) async throws -> DeviceRow {
    _ = try requireRole("admin")
    let id = try Validation.uuid(request.deviceID, field: "device_id")
    return try await rpc {
      try await pool.execute(
        "UPDATE hermes.devices SET revoked_at = coalesce(revoked_at, \(now())) WHERE id = \(id)")
      guard let row = try await pool.query("SELECT * FROM hermes.devices WHERE id = \(id)").first else {
        throw RPCError(code: .notFound, message: "no device has id \(id.text)")
      }
      return try DeviceRow(row)
    }
  }

  /// Takes one OsmAnd report: finds the phone by its identifier (refused when unknown or revoked),
  /// then keeps the fix exactly as ``keepFix(_:of:)`` keeps one from ReportLocation.
  package func reportFromDevice(_ report: OsmAndReport) async throws -> DeviceReportOutcome {
    let digest = DeviceIdentifier.digest(report.deviceIdentifier)
    guard
      let row = try await pool.query(
        "SELECT id, deliverer_id FROM hermes.devices WHERE identifier_sha256 = \(digest) AND revoked_at IS NULL"
      ).first
    else { return .refused }
    let (deviceID, delivererID) = try row.decode((UUID, UUID).self)
    let outcome = try await keepFix(report.location, of: delivererID)
    if outcome.rejection == nil {
      try await pool.execute("UPDATE hermes.devices SET last_report_at = \(now()) WHERE id = \(deviceID)")
    }
    return .checked(outcome)
  }
}

/// Device identifiers: 32 characters of Crockford's base32 (160 bits from the system's CSPRNG),
/// long enough to be the phone's only credential. Hermes stores their SHA-256.
package enum DeviceIdentifier {
  package static let length = 32
  /// How many leading characters are kept in clear, to tell phones apart in a list.
  static let hintLength = 4

  package static func make() -> String {
    var random = SystemRandomNumberGenerator()
    return String((0..<length).map { _ in
      TrackingCode.alphabet[Int(random.next(upperBound: UInt64(TrackingCode.alphabet.count)))]
    })
  }

  /// Lowercase hex SHA-256 of the identifier as sent (identifiers are compared exactly).
  package static func digest(_ identifier: String) -> String {
    SHA256.hash(data: Data(identifier.utf8)).map { String(format: "%02x", $0) }.joined()
  }
}

/// One row of `hermes.devices`.
package struct DeviceRow: Sendable {
  package var id: UUID
  package var delivererID: UUID
  package var label: String
  package var identifierHint: String
  package var createdAt: Date
  package var revokedAt: Date?
  package var lastReportAt: Date?

  package init(_ row: PostgresRow) throws {
    id = try row.decode(UUID.self, column: "id")
    delivererID = try row.decode(UUID.self, column: "deliverer_id")
    label = try row.decode(String.self, column: "label")
    identifierHint = try row.decode(String.self, column: "identifier_hint")
    createdAt = try row.decode(Date.self, column: "created_at")
    revokedAt = try row.decode(Date?.self, column: "revoked_at")
    lastReportAt = try row.decode(Date?.self, column: "last_report_at")
  }

  package var message: Courier_Hermes_V1_DelivererDevice {
    var device = Courier_Hermes_V1_DelivererDevice()
    device.deviceID = id.text
    device.delivererID = delivererID.text
    device.label = label
    device.identifierHint = identifierHint
    device.createdAt = Google_Protobuf_Timestamp(microsecondsOf: createdAt)
    if let revokedAt { device.revokedAt = Google_Protobuf_Timestamp(microsecondsOf: revokedAt) }
    if let lastReportAt { device.lastReportAt = Google_Protobuf_Timestamp(microsecondsOf: lastReportAt) }
    return device
  }
}
