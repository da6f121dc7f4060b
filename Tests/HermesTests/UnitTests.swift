import Foundation
import Generated
@testable import Hermes
import SwiftProtobuf
import Testing

@Suite("Tracking codes, fix checks, status rules, mail throttle")
struct UnitTests {
  @Test("codes are 12 Crockford characters, distinct, and accepted in lower case")
  func trackingCodes() {
    let codes = (0..<2000).map { _ in TrackingCode.make() }
    #expect(codes.allSatisfy { TrackingCode.canonical($0) == $0 })
    #expect(Set(codes).count == codes.count)
    #expect(codes.allSatisfy { !$0.contains(where: { "ILOU".contains($0) }) })
    #expect(TrackingCode.canonical("7k3m9qx2t4va") == "7K3M9QX2T4VA")
    #expect(TrackingCode.canonical("7K3M9QX2T4VU") == nil)  // U is not in the alphabet
    #expect(TrackingCode.canonical("7K3M9QX2T4V") == nil)
    // Every symbol turns up: the draw covers the whole alphabet.
    #expect(Set(codes.joined()) == Set(TrackingCode.alphabet))
  }

  static let now = Date(timeIntervalSince1970: 1_800_000_000)

  static func fix(
    lat: Double = 52.52, lon: Double = 13.405, accuracy: Double = 5, speed: Double = 0, heading: Double = 0,
    at offset: TimeInterval? = 0
  ) -> Courier_Common_V1_Location {
    var location = Courier_Common_V1_Location()
    location.point.latitude = lat
    location.point.longitude = lon
    location.accuracyMeters = accuracy
    location.speedMetersPerSecond = speed
    location.headingDegrees = heading
    if let offset { location.recordedAt = Google_Protobuf_Timestamp(date: now.addingTimeInterval(offset)) }
    return location
  }

  static let previous = FixValidator.Previous(latitude: 52.52, longitude: 13.405, accuracy: 5, recordedAt: now.addingTimeInterval(-60))

  static let table: [(String, Courier_Common_V1_Location?, FixValidator.Previous?, Courier_Hermes_V1_LocationRejectionReason?)] = {
    var noPoint = Courier_Common_V1_Location()
    noPoint.recordedAt = Google_Protobuf_Timestamp(date: now)
    return [
      ("plain fix", fix(), nil, nil),
      ("missing location", nil, nil, .missingPoint),
      ("missing point", noPoint, nil, .missingPoint),
      ("latitude 90.1", fix(lat: 90.1), nil, .outOfRange),
      ("latitude -90 is fine", fix(lat: -90), nil, nil),
      ("longitude -180.5", fix(lon: -180.5), nil, .outOfRange),
      ("latitude NaN", fix(lat: .nan), nil, .outOfRange),
      ("negative accuracy", fix(accuracy: -1), nil, .invalidMeasurement),
      ("negative speed", fix(speed: -0.1), nil, .invalidMeasurement),
      ("heading 360", fix(heading: 360), nil, .invalidMeasurement),
      ("heading 359.9", fix(heading: 359.9), nil, nil),
      ("infinite speed", fix(speed: .infinity), nil, .invalidMeasurement),
      ("accuracy 1001 m", fix(accuracy: 1001), nil, .tooInaccurate),
      ("no time", fix(at: nil), nil, .missingTime),
      ("31 s ahead", fix(at: 31), nil, .inFuture),
      ("29 s ahead is skew", fix(at: 29), nil, nil),
      ("25 h old", fix(at: -25 * 3600), nil, .tooOld),
      ("same time as the last fix", fix(at: -60), previous, .outOfOrder),
      ("before the last fix", fix(at: -61), previous, .outOfOrder),
      ("half a second after", fix(at: -59.5), previous, .tooFrequent),
      ("1 km in 60 s (17 m/s)", fix(lat: 52.52 + 1000 / 111_195), previous, nil),
      ("10 km in 60 s (167 m/s)", fix(lat: 52.52 + 10_000 / 111_195), previous, .implausibleSpeed),
      ("a jump explained by accuracy", fix(lat: 52.52 + 900 / 111_195, accuracy: 900, at: -58), previous, nil),
    ]
  }()

  @Test("fix validation", arguments: table.indices)
  func fixValidation(_ index: Int) {
    let (name, location, previous, expected) = Self.table[index]
    let got = FixValidator().rejection(of: location, previous: previous, now: Self.now)
    #expect(got == expected, "\(name): expected \(String(describing: expected)), got \(String(describing: got))")
  }

  @Test("a fix exactly the minimum interval after one read back from the database passes")
  func intervalAtTheMicrosecond() {
    // 1 s after a stored instant with a microsecond fraction, the earlier one as a Date read back
    // from a timestamptz (a binary fraction a hair later than the stored microsecond).
    for fraction in stride(from: 0.000_001, to: 0.999, by: 0.013_7) {
      let stored = (1_795_805_437 + fraction) * 1_000_000
      let previousDate = Date(timeIntervalSince1970: stored.rounded() / 1_000_000 + 0.000_000_09)
      let previous = FixValidator.Previous(latitude: 52.52, longitude: 13.405, accuracy: 5, recordedAt: previousDate)
      var location = Self.fix(at: nil)
      location.recordedAt = Google_Protobuf_Timestamp(
        seconds: Int64(stored.rounded() / 1_000_000) + 1, nanos: Int32(stored.rounded().truncatingRemainder(dividingBy: 1_000_000)) * 1_000)
      let now = previousDate.addingTimeInterval(5)
      #expect(FixValidator().rejection(of: location, previous: previous, now: now) == nil, "fraction \(fraction)")
    }
  }

  @Test("distance: one degree of latitude is about 111.2 km")
  func distance() {
    let meters = FixValidator.distance(from: (52, 13), to: (53, 13))
    #expect(abs(meters - 111_195) < 10)
  }

  @Test("status moves: forward, skipping allowed; FAILED from any open status; never out of a final one")
  func statusRules() {
    #expect(StatusRules.problem(from: .registered, to: .pickedUp, hasDeliverer: true) == nil)
    #expect(StatusRules.problem(from: .registered, to: .delivered, hasDeliverer: true) == nil)
    #expect(StatusRules.problem(from: .registered, to: .pickedUp, hasDeliverer: false) != nil)
    #expect(StatusRules.problem(from: .inTransit, to: .pickedUp, hasDeliverer: true) != nil)
    #expect(StatusRules.problem(from: .registered, to: .failed, hasDeliverer: false) == nil)
    #expect(StatusRules.problem(from: .delivered, to: .failed, hasDeliverer: true) != nil)
    #expect(StatusRules.problem(from: .failed, to: .inTransit, hasDeliverer: true) != nil)
  }

  @Test("mail throttle: first mail, then one per interval, and always on a status change")
  func mailThrottle() {
    let t0 = Self.now
    let interval = Duration.seconds(900)
    #expect(MailThrottle.shouldMail(last: nil, status: 2, at: t0, interval: interval))
    #expect(!MailThrottle.shouldMail(last: (t0, 2), status: 2, at: t0.addingTimeInterval(899), interval: interval))
    #expect(MailThrottle.shouldMail(last: (t0, 2), status: 2, at: t0.addingTimeInterval(900), interval: interval))
    #expect(MailThrottle.shouldMail(last: (t0, 2), status: 3, at: t0.addingTimeInterval(1), interval: interval))
  }

  @Test("notices: push tag and the payload-update mail's variables")
  func notices() {
    let notice = TrackingNotice(
      idempotencyKey: "e:u", userID: "u", address: "a@example.com", displayName: "Ada", payloadTitle: "Shoes",
      trackingCode: "7K3M9QX2T4VA", status: .inTransit, trackingURL: "http://x/t?code=7K3M9QX2T4VA")
    #expect(notice.pushRequest.tag == "payload:7K3M9QX2T4VA")
    #expect(notice.pushRequest.idempotencyKey == "e:u")
    let mail = notice.mailRequest
    #expect(mail.template.name == "payload-update")
    let variables = Dictionary(uniqueKeysWithValues: mail.template.variables.map { ($0.name, $0.value) })
    #expect(variables == [
      "display_name": "Ada", "payload_title": "Shoes", "tracking_code": "7K3M9QX2T4VA", "status": "in transit",
      "tracking_url": "http://x/t?code=7K3M9QX2T4VA",
    ])
    var arriving = notice
    arriving.kind = .arriving
    arriving.arrival = TrackingNotice.arrivalText(remainingSeconds: 250, remainingMeters: 1_234)
    #expect(arriving.mailRequest.template.name == "payload-arriving")
    let arrivingVariables = Dictionary(uniqueKeysWithValues: arriving.mailRequest.template.variables.map { ($0.name, $0.value) })
    #expect(arrivingVariables["arrival"] == "in about 4 minutes, 1.2 km away" && arrivingVariables["status"] == nil)
    #expect(arriving.pushRequest.tag == "arriving:7K3M9QX2T4VA" && arriving.pushRequest.title == "Shoes: arriving soon")
    #expect(TrackingNotice.arrivalText(remainingSeconds: 20, remainingMeters: 149.6) == "in under a minute, 150 m away")
    #expect(TrackingNotice.arrivalText(remainingSeconds: nil, remainingMeters: 80) == "80 m away")
  }
}
