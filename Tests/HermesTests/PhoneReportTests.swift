import Foundation
import Generated
@testable import Hermes
import SwiftProtobuf
import Testing

@Suite("OsmAnd reports, arrival estimates, route simplification")
struct PhoneReportTests {
  static let now = Date(timeIntervalSince1970: 1_800_000_000)

  static func parse(
    _ query: String, contentType: String? = nil, body: String = ""
  ) throws(OsmAndInputError) -> OsmAndReport {
    try OsmAndReport.parse(
      query: OsmAndReport.formParameters(query) ?? [], contentType: contentType, body: Array(body.utf8), now: now)
  }

  static func failure(_ query: String, contentType: String? = nil, body: String = "") -> OsmAndInputError? {
    do {
      _ = try parse(query, contentType: contentType, body: body)
      return nil
    } catch {
      return error
    }
  }

  @Test("the query form as OsmAnd sends it: speed in knots, Unix seconds")
  func queryForm() throws {
    let report = try Self.parse(
      "id=ABCD1234&lat=52.5200&lon=13.4050&timestamp=1799999990&hdop=1.2&altitude=50.5&speed=10&bearing=90.0&batt=85")
    #expect(report.deviceIdentifier == "ABCD1234")
    #expect(report.location.point.latitude == 52.52)
    #expect(report.location.point.longitude == 13.405)
    #expect(report.location.recordedAt.date == Date(timeIntervalSince1970: 1_799_999_990))
    #expect(abs(report.location.speedMetersPerSecond - 5.144444) < 1e-5)
    #expect(report.location.headingDegrees == 90)
    #expect(report.location.altitudeMeters == 50.5)
  }

  @Test("deviceid, location=lat,lon, milliseconds, ISO 8601 and the spaced form; form bodies override the query")
  func variants() throws {
    let millis = try Self.parse("deviceid=X1&location=48.1,11.5&timestamp=1799999990500")
    #expect(millis.deviceIdentifier == "X1")
    #expect(millis.location.point.latitude == 48.1 && millis.location.point.longitude == 11.5)
    #expect(millis.location.recordedAt.date == Date(timeIntervalSince1970: 1_799_999_990.5))
    // Seconds up to 2^31 - 2 (2038), milliseconds from 2^31 - 1 on, as Traccar reads them.
    #expect(try Self.parse("id=X1&lat=1&lon=2&timestamp=2147483646").location.recordedAt.seconds == 2_147_483_646)
    #expect(try Self.parse("id=X1&lat=1&lon=2&timestamp=2147483647").location.recordedAt.seconds == 2_147_483)
    #expect(try Self.parse("id=X1&lat=1&lon=2&timestamp=2027-01-15T10:00:00%2B02:00").location.recordedAt.date == Self.now)
    let iso = try Self.parse("id=X1&lat=1&lon=2&timestamp=2027-01-15T08:00:00Z")
    #expect(iso.location.recordedAt.date == Self.now)
    let fraction = try Self.parse("id=X1&lat=1&lon=2&timestamp=2027-01-15T08:00:00.250Z")
    #expect(fraction.location.recordedAt.date.timeIntervalSince(iso.location.recordedAt.date) == 0.25)
    let spaced = try Self.parse("id=X1&lat=1&lon=2&timestamp=2027-01-15%2008:00:00")
    #expect(spaced.location.recordedAt.date == iso.location.recordedAt.date)
    let missing = try Self.parse("id=X1&lat=1&lon=2")
    #expect(missing.location.recordedAt.date == Self.now)
    let form = try Self.parse(
      "id=X1&lat=1&lon=2", contentType: "application/x-www-form-urlencoded", body: "lat=3.5&lon=4.5&accuracy=12&bearing=-1")
    #expect(form.location.point.latitude == 3.5 && form.location.point.longitude == 4.5)
    #expect(form.location.accuracyMeters == 12)
    #expect(form.location.headingDegrees == 0)
  }

  @Test("Traccar Client's JSON: speed in m/s, unknown values as -1")
  func jsonForm() throws {
    let body = """
      {"location": {"timestamp": "2027-01-15T08:00:00.000Z",
        "coords": {"latitude": 52.5, "longitude": 13.4, "accuracy": 8.5, "speed": 3.5, "heading": -1, "altitude": 40},
        "is_moving": true, "odometer": 12, "event": "motionchange",
        "battery": {"level": 0.8, "is_charging": false}, "activity": {"type": "in_vehicle"}, "extras": {}},
       "device_id": "48241179"}
      """
    let report = try Self.parse("", contentType: "application/json", body: body)
    #expect(report.deviceIdentifier == "48241179")
    #expect(report.location.point.latitude == 52.5 && report.location.point.longitude == 13.4)
    #expect(report.location.speedMetersPerSecond == 3.5)
    #expect(report.location.headingDegrees == 0)
    #expect(report.location.accuracyMeters == 8.5)
    #expect(report.location.altitudeMeters == 40)
    #expect(report.location.recordedAt.date == Self.now)
    let numeric = try Self.parse("", body: #"{"device_id": 48241179, "location": {"coords": {"latitude": 1, "longitude": 2}}}"#)
    #expect(numeric.deviceIdentifier == "48241179")
    #expect(numeric.location.recordedAt.date == Self.now)
  }

  @Test("unreadable reports name the field")
  func malformed() {
    #expect(Self.failure("lat=1&lon=2")?.field == "id")
    #expect(Self.failure("id=&lat=1&lon=2")?.field == "id")
    #expect(Self.failure("id=X&lon=2")?.field == "lat")
    #expect(Self.failure("id=X&lat=91&lon=2")?.field == "lat")
    #expect(Self.failure("id=X&lat=-90.5&lon=2")?.field == "lat")
    #expect(Self.failure("id=X&lat=1&lon=180.01")?.field == "lon")
    #expect(Self.failure("id=X&lat=nan&lon=2")?.field == "lat")
    #expect(Self.failure("id=X&lat=1&lon=2&timestamp=yesterday")?.field == "timestamp")
    #expect(Self.failure("id=X&lat=1&lon=2&timestamp=2027-13-45T99:00:00Z")?.field == "timestamp")
    #expect(Self.failure("id=X&lat=1&lon=2&speed=fast")?.field == "speed")
    #expect(Self.failure("id=X&location=1")?.field == "location")
    #expect(Self.failure("", contentType: "application/json", body: "[1,2]")?.field == "body")
    #expect(Self.failure("", contentType: "application/json", body: "{")?.field == "body")
    #expect(Self.failure("", body: #"{"location": {"coords": {"latitude": 1, "longitude": 2}}}"#)?.field == "device_id")
    #expect(Self.failure("", body: #"{"device_id": "X", "location": {"coords": {"latitude": true, "longitude": 2}}}"#)?.field
      == "location.coords.latitude")
    #expect(Self.failure("", body: #"{"device_id": "X", "location": {"coords": {"latitude": 95, "longitude": 2}}}"#)?.field == "lat")
    #expect(Self.failure("", body: #"{"device_id": "X", "location": {"timestamp": "soon", "coords": {"latitude": 1, "longitude": 2}}}"#)?.field
      == "location.timestamp")
    #expect(Self.failure("", body: #"{"device_id": "X"}"#)?.field == "location")
    #expect(Self.failure("id=X&lat=1&lon=2", contentType: "application/xml", body: "<a/>")?.field == "body")
  }

  @Test("device identifiers are 32 Crockford characters; the digest is SHA-256 hex")
  func identifiers() {
    let made = (0..<200).map { _ in DeviceIdentifier.make() }
    #expect(Set(made).count == made.count)
    #expect(made.allSatisfy { $0.count == 32 && $0.allSatisfy(TrackingCode.alphabet.contains) })
    #expect(DeviceIdentifier.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  // MARK: Arrival

  static func fix(_ lat: Double, _ lon: Double, speed: Double = 0, at seconds: TimeInterval) -> ArrivalEstimator.Fix {
    ArrivalEstimator.Fix(latitude: lat, longitude: lon, speed: speed, recordedAt: now.addingTimeInterval(seconds))
  }

  @Test("the speed is smoothed by time: a short stop moves it a little, the device's speed wins over the derived one")
  func smoothing() {
    let estimator = ArrivalEstimator(timeConstant: 60)
    #expect(estimator.smoothedSpeed(after: Self.fix(0, 0, speed: 7, at: 0), previous: nil, previousSpeed: nil) == 7)
    #expect(estimator.smoothedSpeed(after: Self.fix(0, 0, at: 0), previous: nil, previousSpeed: nil) == nil)
    // 0.001 degrees of latitude is 111.2 m; in 10 s, 11.1 m/s.
    let derived = estimator.smoothedSpeed(after: Self.fix(0.001, 0, at: 10), previous: Self.fix(0, 0, at: 0), previousSpeed: nil)
    #expect(abs(derived! - 11.12) < 0.01)
    let held = estimator.smoothedSpeed(after: Self.fix(0, 0, speed: 0.0001, at: 10), previous: Self.fix(0, 0, at: 0), previousSpeed: 10)
    #expect(abs(held! - (10 + (1 - exp(-10.0 / 60)) * (0.0001 - 10))) < 1e-9)
    #expect(held! > 8 && held! < 9)
    #expect(estimator.smoothedSpeed(after: Self.fix(0, 0, speed: 3, at: 0), previous: Self.fix(0, 0, at: 0), previousSpeed: 10) == 10)
  }

  @Test("the estimate: distance over speed, none while standing still, arriving by radius or by time")
  func estimates() {
    let estimator = ArrivalEstimator(minimumSpeed: 0.5, arrivingRadius: 200, arrivingWithin: 60)
    let estimate = estimator.estimate(at: Self.fix(0, 0, at: 100), to: (0.01, 0), speed: 10)
    #expect(abs(estimate.remainingDistance - 1_111.95) < 0.1)
    #expect(abs((estimate.remainingSeconds ?? 0) - 111.195) < 0.01)
    #expect(estimate.arrivalAt == Self.now.addingTimeInterval(100 + estimate.remainingSeconds!))
    #expect(!estimator.isArrivingSoon(estimate))
    let still = estimator.estimate(at: Self.fix(0, 0, at: 0), to: (0.01, 0), speed: 0.2)
    #expect(still.remainingSeconds == nil && still.arrivalAt == nil && !estimator.isArrivingSoon(still))
    #expect(estimator.estimate(at: Self.fix(0, 0, at: 0), to: (0.01, 0), speed: nil).remainingSeconds == nil)
    #expect(estimator.isArrivingSoon(estimator.estimate(at: Self.fix(0, 0, at: 0), to: (0.0015, 0), speed: 0.2)))
    #expect(estimator.isArrivingSoon(estimator.estimate(at: Self.fix(0, 0, at: 0), to: (0.005, 0), speed: 10)))
  }

  @Test("a steady drive towards the destination makes the remaining time fall with every fix")
  func drive() {
    let estimator = ArrivalEstimator()
    var previous: ArrivalEstimator.Fix?
    var speed: Double?
    var remaining: [Double] = []
    for step in 0..<20 {
      let fix = Self.fix(Double(step) * 0.001, 0, at: Double(step) * 10)
      speed = estimator.smoothedSpeed(after: fix, previous: previous, previousSpeed: speed)
      if let seconds = estimator.estimate(at: fix, to: (0.03, 0), speed: speed).remainingSeconds { remaining.append(seconds) }
      previous = fix
    }
    #expect(remaining.count == 19)
    #expect(zip(remaining, remaining.dropFirst()).allSatisfy { $0 > $1 })
  }

  // MARK: Routes

  @Test("Douglas-Peucker keeps the corners and drops what lies on the line")
  func simplification() {
    // An L: east 10 steps, then north 10 steps, with a 1 m wobble in the middle of the first leg.
    var points: [(latitude: Double, longitude: Double)] = (0...10).map { (0, Double($0) * 0.0001) }
    points[5].latitude = 0.000009  // about 1 m north
    points += (1...10).map { (Double($0) * 0.0001, 0.001) }
    #expect(RouteSimplifier.keptIndices(of: points, tolerance: 0) == Array(points.indices))
    #expect(RouteSimplifier.keptIndices(of: points, tolerance: 5) == [0, 10, 20])
    #expect(RouteSimplifier.keptIndices(of: points, tolerance: 0.9) == [0, 5, 10, 20])
    #expect(RouteSimplifier.keptIndices(of: points, tolerance: 0.5) == [0, 4, 5, 6, 10, 20])
    #expect(RouteSimplifier.keptIndices(of: [(0, 0), (1, 1)], tolerance: 5) == [0, 1])
    let long = (0..<100_000).map { (latitude: 0.0, longitude: Double($0) * 0.00001) }
    #expect(RouteSimplifier.keptIndices(of: long, tolerance: 1) == [0, 99_999])
  }

  @Test("the route feature is GeoJSON: [lon, lat] positions and one time per position")
  func feature() throws {
    let times = [Self.now, Self.now.addingTimeInterval(10)]
    let feature = HermesCore.feature(code: "7K3M9QX2T4VA", fixes: [(52.5, 13.4, times[0]), (52.6, 13.5, times[1])], fixCount: 2, tolerance: 0)
    let bytes: [UInt8] = try feature.jsonUTF8Bytes()
    let json = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    #expect(json?["type"] as? String == "Feature")
    let geometry = json?["geometry"] as? [String: Any]
    #expect(geometry?["type"] as? String == "LineString")
    #expect((geometry?["coordinates"] as? [[Double]]) == [[13.4, 52.5], [13.5, 52.6]])
    let properties = json?["properties"] as? [String: Any]
    #expect((properties?["coordTimes"] as? [String])?.count == 2)
    #expect(properties?["trackingCode"] as? String == "7K3M9QX2T4VA")
  }
}
