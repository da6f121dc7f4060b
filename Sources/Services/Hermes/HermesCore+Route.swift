import ContractRuntime
import Foundation
package import Generated
import GRPCCore
import Postgres
import SwiftProtobuf

extension HermesCore {
  /// Tracks longer than this many fixes are simplified even without a tolerance.
  static let routeSimplifyAbove = 500
  /// The tolerance used then, in meters.
  static let routeDefaultTolerance = 5.0

  /// The path a payload travelled as a GeoJSON Feature with a LineString (TrackingService.GetPayloadRoute):
  /// its recipient, its subscribers and admins only.
  package func route(_ request: Courier_Hermes_V1_GetPayloadRouteRequest) async throws -> Courier_Hermes_V1_GetPayloadRouteResponse {
    let caller = try requireCaller()
    let code = try Validation.trackingCode(request.payloadTrackingCode)
    guard request.toleranceMeters.isFinite, (0...10_000).contains(request.toleranceMeters) else {
      throw Validation.invalid("tolerance_meters", "must be 0 to 10,000 meters, got \(request.toleranceMeters)")
    }
    return try await rpc {
      guard let payload = try await payload(code: code) else {
        throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
      }
      var allowed = caller.roles.contains("admin") || caller.userID == payload.recipientUserID.text
      if !allowed, let userID = UUID(uuidString: caller.userID) {
        allowed = try await !pool.query(
          "SELECT 1 FROM hermes.subscriptions WHERE user_id = \(userID) AND payload_id = \(payload.id)").isEmpty
      }
      guard allowed else {
        throw RPCError(code: .permissionDenied, message: "only the payload's recipient, its subscribers and admins may read its route")
      }
      // One row per fix time: a fix reported twice (two events) is one position.
      let rows = try await pool.query(
        """
        SELECT DISTINCT ON (recorded_at) lat, lon, recorded_at FROM hermes.payload_positions
        WHERE payload_id = \(payload.id) ORDER BY recorded_at, seq
        """)
      let fixes = try rows.map { try $0.decode((Double, Double, Date).self) }
      guard !fixes.isEmpty else {
        throw RPCError(code: .failedPrecondition, message: "payload \(code) has no recorded position yet")
      }
      let tolerance = request.toleranceMeters > 0
        ? request.toleranceMeters : (fixes.count > Self.routeSimplifyAbove ? Self.routeDefaultTolerance : 0)
      var kept = RouteSimplifier.keptIndices(of: fixes.map { ($0.0, $0.1) }, tolerance: tolerance)
      if kept.count == 1 { kept.append(kept[0]) }  // a LineString needs two positions
      return Self.feature(code: code, fixes: kept.map { fixes[$0] }, fixCount: fixes.count, tolerance: tolerance)
    }
  }

  /// The GeoJSON Feature of `fixes` (latitude, longitude, time), oldest first.
  static func feature(
    code: String, fixes: [(Double, Double, Date)], fixCount: Int, tolerance: Double
  ) -> Courier_Hermes_V1_GetPayloadRouteResponse {
    var feature = Courier_Hermes_V1_GetPayloadRouteResponse()
    feature.type = "Feature"
    feature.geometry.type = "LineString"
    feature.geometry.coordinates = fixes.map { fix in
      Google_Protobuf_ListValue(values: [Google_Protobuf_Value(numberValue: fix.1), Google_Protobuf_Value(numberValue: fix.0)])
    }
    feature.properties.trackingCode = code
    feature.properties.coordTimes = fixes.map { Google_Protobuf_Timestamp(microsecondsOf: $0.2) }
    feature.properties.fixCount = Int32(fixCount)
    feature.properties.toleranceMeters = tolerance
    return feature
  }
}
