import ContractRuntime
import Foundation
import Generated
import Postgres
import SwiftProtobuf

/// Reads a position stored as the columns `lat, lon, accuracy_m, speed_mps, heading_deg,
/// altitude_m, recorded_at` (see ``HermesSchema``).
enum LocationColumns {
  /// The location in `row`, or nil when `lat` is NULL (no position yet).
  static func decode(_ row: PostgresRow) throws -> Courier_Common_V1_Location? {
    guard let lat = try row.decode(Double?.self, column: "lat") else { return nil }
    var location = Courier_Common_V1_Location()
    location.point.latitude = lat
    location.point.longitude = try row.decode(Double.self, column: "lon")
    location.accuracyMeters = try row.decode(Double.self, column: "accuracy_m")
    location.speedMetersPerSecond = try row.decode(Double.self, column: "speed_mps")
    location.headingDegrees = try row.decode(Double.self, column: "heading_deg")
    location.altitudeMeters = try row.decode(Double.self, column: "altitude_m")
    location.recordedAt = Google_Protobuf_Timestamp(microsecondsOf: try row.decode(Date.self, column: "recorded_at"))
    return location
  }

  /// `location` as ``decode(_:)`` reads it back once stored: the fields the columns keep,
  /// `recorded_at` to the microsecond.
  static func stored(_ location: Courier_Common_V1_Location) -> Courier_Common_V1_Location {
    var stored = Courier_Common_V1_Location()
    stored.point.latitude = location.point.latitude
    stored.point.longitude = location.point.longitude
    stored.accuracyMeters = location.accuracyMeters
    stored.speedMetersPerSecond = location.speedMetersPerSecond
    stored.headingDegrees = location.headingDegrees
    stored.altitudeMeters = location.altitudeMeters
    stored.recordedAt = Google_Protobuf_Timestamp(microsecondsOf: location.recordedAt.date)
    return stored
  }
}
