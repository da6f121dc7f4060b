public import Foundation

/// Estimates when a carried payload reaches its destination: the great-circle distance left,
/// divided by the deliverer's recent speed.
///
/// The speed is exponentially smoothed over the fixes, weighted by time: a sample `elapsed` seconds
/// after the previous one moves the smoothed speed by `1 - exp(-elapsed / timeConstant)` of the
/// difference, so fixes every second and fixes every minute smooth alike, and a traffic light does
/// not make the estimate jump. A sample is the device's own speed when it sent one, else the
/// distance from the previous fix over the time between them.
public struct ArrivalEstimator: Sendable, Equatable {
  /// How quickly the smoothed speed follows the samples, in seconds: 60.
  public var timeConstant: TimeInterval
  /// Below this smoothed speed (m/s) the deliverer counts as standing still: no estimate.
  public var minimumSpeed: Double
  /// "Arriving soon" once this close to the destination, in meters.
  public var arrivingRadius: Double
  /// "Arriving soon" once the estimate is under this many seconds.
  public var arrivingWithin: TimeInterval

  public init(
    timeConstant: TimeInterval = 60, minimumSpeed: Double = 0.5, arrivingRadius: Double = 500,
    arrivingWithin: TimeInterval = 300
  ) {
    self.timeConstant = timeConstant
    self.minimumSpeed = minimumSpeed
    self.arrivingRadius = arrivingRadius
    self.arrivingWithin = arrivingWithin
  }

  /// One fix as the estimator needs it.
  package struct Fix: Sendable, Equatable {
    package var latitude: Double
    package var longitude: Double
    /// The device's speed in m/s; 0 when it did not say.
    package var speed: Double
    package var recordedAt: Date

    package init(latitude: Double, longitude: Double, speed: Double, recordedAt: Date) {
      self.latitude = latitude
      self.longitude = longitude
      self.speed = speed
      self.recordedAt = recordedAt
    }
  }

  /// The outcome for one fix.
  package struct Estimate: Sendable, Equatable {
    package var smoothedSpeed: Double
    package var remainingDistance: Double
    /// Nil while the deliverer stands still.
    package var remainingSeconds: Double?
    package var arrivalAt: Date? { remainingSeconds.map { computedAt.addingTimeInterval($0) } }
    package var computedAt: Date
  }

  /// The new smoothed speed after `fix`, given the previous fix and smoothed speed: nil while
  /// unknown (a first fix without the device's speed). Without a smoothed speed yet, the sample is
  /// taken as it is.
  package func smoothedSpeed(after fix: Fix, previous: Fix?, previousSpeed: Double?) -> Double? {
    guard let previous else { return fix.speed > 0 ? fix.speed : nil }
    let elapsed = fix.recordedAt.timeIntervalSince(previous.recordedAt)
    guard elapsed > 0 else { return previousSpeed ?? (fix.speed > 0 ? fix.speed : nil) }
    let sample = fix.speed > 0
      ? fix.speed
      : FixValidator.distance(from: (previous.latitude, previous.longitude), to: (fix.latitude, fix.longitude)) / elapsed
    guard let previousSpeed else { return sample }
    let weight = 1 - exp(-elapsed / timeConstant)
    return previousSpeed + weight * (sample - previousSpeed)
  }

  /// The estimate at `fix` towards `destination` (latitude, longitude) at `speed` (smoothed; nil
  /// when unknown).
  package func estimate(at fix: Fix, to destination: (Double, Double), speed: Double?) -> Estimate {
    let remaining = FixValidator.distance(from: (fix.latitude, fix.longitude), to: destination)
    let seconds: Double? = speed.flatMap { $0 >= minimumSpeed ? remaining / $0 : nil }
    return Estimate(smoothedSpeed: speed ?? 0, remainingDistance: remaining, remainingSeconds: seconds, computedAt: fix.recordedAt)
  }

  /// True when `estimate` says the payload is about to arrive: within the radius, or due within
  /// `arrivingWithin`.
  package func isArrivingSoon(_ estimate: Estimate) -> Bool {
    if estimate.remainingDistance <= arrivingRadius { return true }
    guard let seconds = estimate.remainingSeconds else { return false }
    return seconds <= arrivingWithin
  }
}

extension Duration {
  /// The duration in seconds, as Foundation counts time.
  var timeInterval: TimeInterval {
    Double(components.seconds) + Double(components.attoseconds) / 1e18
  }
}
