public import Foundation
public import Generated
import SwiftProtobuf

/// The checks a position fix must pass before Hermes keeps it (the order of
/// `LocationRejectionReason`: the first failing check is the reason).
public struct FixValidator: Sendable {
  /// How far ahead of the server's clock `recorded_at` may be: 30 seconds.
  public var allowedSkew: TimeInterval = 30
  /// How old a fix may be: 24 hours.
  public var maxAge: TimeInterval = 24 * 3600
  /// The coarsest accuracy radius kept, in meters.
  public var maxAccuracy: Double = 1_000
  /// The least time between two kept fixes of one deliverer, in seconds.
  public var minInterval: TimeInterval = 1
  /// The highest speed between two fixes that is believed, in m/s (about 250 km/h).
  public var maxSpeed: Double = 70

  public init() {}

  /// The previous accepted fix: where and when (device time).
  public struct Previous: Sendable {
    public var latitude: Double
    public var longitude: Double
    public var accuracy: Double
    public var recordedAt: Date

    public init(latitude: Double, longitude: Double, accuracy: Double, recordedAt: Date) {
      self.latitude = latitude
      self.longitude = longitude
      self.accuracy = accuracy
      self.recordedAt = recordedAt
    }

    /// An accepted fix as the next one is checked against it.
    public init(_ location: Courier_Common_V1_Location) {
      self.init(
        latitude: location.point.latitude, longitude: location.point.longitude, accuracy: location.accuracyMeters,
        recordedAt: location.recordedAt.date)
    }
  }

  /// Nil when `location` (an optional message: `hasLocation` false means missing) is acceptable,
  /// else why not.
  public func rejection(
    of location: Courier_Common_V1_Location?, previous: Previous?, now: Date
  ) -> Courier_Hermes_V1_LocationRejectionReason? {
    guard let location, location.hasPoint else { return .missingPoint }
    let point = location.point
    guard point.latitude.isFinite, point.longitude.isFinite, (-90...90).contains(point.latitude),
      (-180...180).contains(point.longitude)
    else { return .outOfRange }
    let measurements = [location.accuracyMeters, location.speedMetersPerSecond, location.headingDegrees, location.altitudeMeters]
    guard measurements.allSatisfy(\.isFinite), location.accuracyMeters >= 0, location.speedMetersPerSecond >= 0,
      location.headingDegrees >= 0, location.headingDegrees < 360
    else { return .invalidMeasurement }
    guard location.accuracyMeters <= maxAccuracy else { return .tooInaccurate }
    guard location.hasRecordedAt else { return .missingTime }
    let recorded = location.recordedAt.date
    guard recorded.timeIntervalSince(now) <= allowedSkew else { return .inFuture }
    guard now.timeIntervalSince(recorded) <= maxAge else { return .tooOld }
    guard let previous else { return nil }
    // To the microsecond, the precision the previous fix was stored with: read back from Postgres
    // it is a binary fraction a little off, and a fix exactly `minInterval` later must still pass.
    let elapsed = (recorded.timeIntervalSince(previous.recordedAt) * 1_000_000).rounded() / 1_000_000
    guard elapsed > 0 else { return .outOfOrder }
    guard elapsed >= minInterval else { return .tooFrequent }
    let distance = Self.distance(
      from: (previous.latitude, previous.longitude), to: (point.latitude, point.longitude))
    let unexplained = max(0, distance - previous.accuracy - location.accuracyMeters)
    guard unexplained / elapsed <= maxSpeed else { return .implausibleSpeed }
    return nil
  }

  /// Great-circle distance in meters (haversine, mean Earth radius).
  public static func distance(from a: (Double, Double), to b: (Double, Double)) -> Double {
    let radius = 6_371_008.8
    let (lat1, lat2) = (a.0 * .pi / 180, b.0 * .pi / 180)
    let dLat = lat2 - lat1
    let dLon = (b.1 - a.1) * .pi / 180
    let h = sin(dLat / 2) * sin(dLat / 2) + cos(lat1) * cos(lat2) * sin(dLon / 2) * sin(dLon / 2)
    return 2 * radius * asin(min(1, sqrt(h)))
  }
}
