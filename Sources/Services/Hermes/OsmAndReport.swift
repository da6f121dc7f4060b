package import Foundation
package import Generated
import SwiftProtobuf

/// One position report of a phone in the OsmAnd protocol, the protocol of the OsmAnd app's online
/// tracking and of the Traccar Client apps. Two forms reach the same endpoint:
///
/// - Parameters, in the query (any method) or as an `application/x-www-form-urlencoded` body:
///   `id` or `deviceid` (required), `lat` and `lon` in degrees (or `location=<lat>,<lon>`),
///   `timestamp` (Unix seconds, Unix milliseconds, ISO 8601, or `yyyy-MM-dd HH:mm:ss` in UTC; the
///   server's clock when absent), `speed` in knots, `bearing` or `heading` in degrees, `altitude`
///   in meters, `accuracy` in meters. Others (`batt`, `hdop`, `charge`, ...) are ignored.
/// - JSON (Traccar Client 9 and later): `{"device_id": ..., "location": {"timestamp": ISO 8601,
///   "coords": {"latitude", "longitude", "speed" (m/s), "heading", "altitude", "accuracy"},
///   "battery": {...}, "is_moving": ..., ...}}`.
///
/// Unknown measurements (a negative speed, heading or accuracy, as phones send -1 for "unknown")
/// become 0, the proto's "unknown". What cannot be a position (no id, no or out-of-range
/// coordinates, an unreadable time or number) is an ``OsmAndInputError``.
package struct OsmAndReport: Sendable, Equatable {
  /// The device identifier the phone sent (`id`, `deviceid` or `device_id`).
  package var deviceIdentifier: String
  /// The fix, ready for ``FixValidator``.
  package var location: Courier_Common_V1_Location

  /// Meters per second in one knot.
  static let metersPerSecondPerKnot = 1_852.0 / 3_600.0

  /// Reads a report from the request's query parameters, content type and body. `now` stands in
  /// for a missing timestamp.
  package static func parse(
    query: [(name: String, value: String)], contentType: String?, body: [UInt8], now: Date
  ) throws(OsmAndInputError) -> OsmAndReport {
    let type = contentType?.lowercased() ?? ""
    let trimmed = body.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
    if type.hasPrefix("application/json") || (type.isEmpty && trimmed.first == UInt8(ascii: "{")) {
      return try parseJSON(Array(trimmed), now: now)
    }
    var parameters = query
    if !body.isEmpty {
      guard type.isEmpty || type.hasPrefix("application/x-www-form-urlencoded") || type.hasPrefix("text/plain") else {
        throw OsmAndInputError(field: "body", reason: "must be JSON or form parameters, not \(type)")
      }
      guard let form = formParameters(String(decoding: body, as: UTF8.self)) else {
        throw OsmAndInputError(field: "body", reason: "has a malformed percent-encoding")
      }
      parameters += form
    }
    return try parseParameters(parameters, now: now)
  }

  /// The parameter form.
  static func parseParameters(_ parameters: [(name: String, value: String)], now: Date) throws(OsmAndInputError) -> OsmAndReport {
    // The last value of a name wins: form fields override the query.
    var values: [String: String] = [:]
    for (name, value) in parameters { values[name.lowercased()] = value }
    guard let id = (values["id"] ?? values["deviceid"]).map(trim), !id.isEmpty else {
      throw OsmAndInputError(field: "id", reason: "is missing: send the device identifier as id or deviceid")
    }
    var latitude = values["lat"]
    var longitude = values["lon"]
    if latitude == nil, longitude == nil, let pair = values["location"] {
      let parts = pair.split(separator: ",", omittingEmptySubsequences: false)
      guard parts.count == 2 else { throw OsmAndInputError(field: "location", reason: "must be <lat>,<lon>") }
      latitude = String(parts[0])
      longitude = String(parts[1])
    }
    var location = Courier_Common_V1_Location()
    location.point = try point(latitude: try number(latitude, field: "lat"), longitude: try number(longitude, field: "lon"))
    location.recordedAt = Google_Protobuf_Timestamp(date: try time(values["timestamp"], now: now))
    if let speed = try optionalNumber(values["speed"], field: "speed") {
      location.speedMetersPerSecond = known(speed * metersPerSecondPerKnot)
    }
    if let heading = try optionalNumber(values["bearing"] ?? values["heading"], field: "bearing") {
      location.headingDegrees = normalizedHeading(heading)
    }
    if let altitude = try optionalNumber(values["altitude"], field: "altitude") { location.altitudeMeters = altitude }
    if let accuracy = try optionalNumber(values["accuracy"], field: "accuracy") { location.accuracyMeters = known(accuracy) }
    return OsmAndReport(deviceIdentifier: id, location: location)
  }

  /// The JSON form.
  static func parseJSON(_ body: [UInt8], now: Date) throws(OsmAndInputError) -> OsmAndReport {
    let report: JSONForm
    do {
      report = try JSONDecoder().decode(JSONForm.self, from: Data(body))
    } catch let DecodingError.typeMismatch(_, context) {
      throw OsmAndInputError(field: path(context.codingPath), reason: "has the wrong type")
    } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
      throw OsmAndInputError(field: path(context.codingPath), reason: "is not valid")
    } catch {
      throw OsmAndInputError(field: "body", reason: "is not a JSON object")
    }
    guard let id = (report.deviceID ?? report.id)?.text, !id.isEmpty else {
      throw OsmAndInputError(field: "device_id", reason: "is missing: send the device identifier as device_id")
    }
    guard let fix = report.location else { throw OsmAndInputError(field: "location", reason: "is missing") }
    guard let coords = fix.coords else { throw OsmAndInputError(field: "location.coords", reason: "is missing") }
    guard let latitude = coords.latitude, latitude.isFinite else {
      throw OsmAndInputError(field: "location.coords.latitude", reason: "is missing")
    }
    guard let longitude = coords.longitude, longitude.isFinite else {
      throw OsmAndInputError(field: "location.coords.longitude", reason: "is missing")
    }
    var location = Courier_Common_V1_Location()
    location.point = try point(latitude: latitude, longitude: longitude)
    location.recordedAt = Google_Protobuf_Timestamp(date: try time(fix.timestamp?.text, now: now, field: "location.timestamp"))
    if let speed = coords.speed { location.speedMetersPerSecond = known(speed) }
    if let heading = coords.heading { location.headingDegrees = normalizedHeading(heading) }
    if let altitude = coords.altitude { location.altitudeMeters = altitude }
    if let accuracy = coords.accuracy { location.accuracyMeters = known(accuracy) }
    return OsmAndReport(deviceIdentifier: id, location: location)
  }

  /// The parts of Traccar Client's JSON that Hermes reads; the rest (battery, activity, odometer,
  /// extras, ...) is ignored.
  struct JSONForm: Decodable {
    var deviceID: TextOrNumber?
    var id: TextOrNumber?
    var location: Fix?

    enum CodingKeys: String, CodingKey {
      case deviceID = "device_id"
      case id, location
    }

    struct Fix: Decodable {
      var timestamp: TextOrNumber?
      var coords: Coordinates?
    }

    struct Coordinates: Decodable {
      var latitude: Double?
      var longitude: Double?
      var speed: Double?
      var heading: Double?
      var altitude: Double?
      var accuracy: Double?
    }
  }

  /// A JSON string or number, as text (device ids and times come as either).
  struct TextOrNumber: Decodable {
    var text: String

    init(from decoder: any Swift.Decoder) throws {
      let container = try decoder.singleValueContainer()
      if let text = try? container.decode(String.self) {
        self.text = trim(text)
      } else if let number = try? container.decode(Int64.self) {
        self.text = String(number)
      } else {
        let number = try container.decode(Double.self)
        self.text = String(number)
      }
    }
  }

  static func path(_ keys: [any CodingKey]) -> String {
    keys.isEmpty ? "body" : keys.map(\.stringValue).joined(separator: ".")
  }

  // MARK: Pieces

  static func point(latitude: Double, longitude: Double) throws(OsmAndInputError) -> Courier_Common_V1_GeoPoint {
    guard (-90...90).contains(latitude) else {
      throw OsmAndInputError(field: "lat", reason: "must be between -90 and 90, got \(latitude)")
    }
    guard (-180...180).contains(longitude) else {
      throw OsmAndInputError(field: "lon", reason: "must be between -180 and 180, got \(longitude)")
    }
    var point = Courier_Common_V1_GeoPoint()
    point.latitude = latitude
    point.longitude = longitude
    return point
  }

  /// The time of a fix: Unix seconds, or milliseconds from 2^31 - 1 on (as Traccar reads them:
  /// seconds stop there in 2038, and milliseconds start there in January 1970), ISO 8601, or
  /// `yyyy-MM-dd HH:mm:ss` (UTC). `now` when absent.
  static func time(_ text: String?, now: Date, field: String = "timestamp") throws(OsmAndInputError) -> Date {
    guard let text = text.map(trim), !text.isEmpty else { return now }
    if let number = Double(text), number.isFinite, text.allSatisfy({ $0.isNumber || $0 == "." }) {
      return Date(timeIntervalSince1970: number >= Double(Int32.max) ? number / 1_000 : number)
    }
    if let date = isoTime(text) { return date }
    throw OsmAndInputError(
      field: field, reason: "must be Unix seconds or milliseconds, ISO 8601 or yyyy-MM-dd HH:mm:ss, got '\(text.prefix(40))'")
  }

  private static func isoTime(_ text: String) -> Date? {
    let withFraction = ISO8601DateFormatter()
    withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = withFraction.date(from: text) { return date }
    let plain = ISO8601DateFormatter()
    plain.formatOptions = [.withInternetDateTime]
    if let date = plain.date(from: text) { return date }
    let spaced = DateFormatter()
    spaced.locale = Locale(identifier: "en_US_POSIX")
    spaced.timeZone = TimeZone(identifier: "UTC")
    spaced.dateFormat = "yyyy-MM-dd HH:mm:ss"
    return spaced.date(from: text)
  }

  static func number(_ text: String?, field: String) throws(OsmAndInputError) -> Double {
    guard let text else { throw OsmAndInputError(field: field, reason: "is missing") }
    guard let value = try optionalNumber(text, field: field) else { throw OsmAndInputError(field: field, reason: "is missing") }
    return value
  }

  static func optionalNumber(_ text: String?, field: String) throws(OsmAndInputError) -> Double? {
    guard let text = text.map(trim), !text.isEmpty else { return nil }
    // Digits, sign, point and exponent only: Double() would also take "nan" and "inf".
    guard text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }), let value = Double(text),
      value.isFinite
    else {
      throw OsmAndInputError(field: field, reason: "must be a number, got '\(text.prefix(40))'")
    }
    return value
  }

  /// Negative means "unknown" on phones; the proto says unknown with 0.
  static func known(_ value: Double) -> Double { value < 0 ? 0 : value }

  /// Degrees in 0..<360; a negative (unknown) heading is 0.
  static func normalizedHeading(_ degrees: Double) -> Double {
    guard degrees >= 0 else { return 0 }
    let wrapped = degrees.truncatingRemainder(dividingBy: 360)
    return wrapped
  }

  static func trim(_ text: String) -> String { text.trimmingCharacters(in: .whitespaces) }

  /// `a=1&b=2` with `+` as space and percent-decoding; nil on a malformed escape.
  static func formParameters(_ text: String) -> [(name: String, value: String)]? {
    var result: [(name: String, value: String)] = []
    for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      let decode = { (part: Substring) in part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
      guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : "") else { return nil }
      result.append((name, value))
    }
    return result
  }
}

/// A request that is not a readable OsmAnd report: HTTP 400 with the field and what is wrong.
package struct OsmAndInputError: Error, Equatable, CustomStringConvertible {
  /// The parameter or JSON path at fault (`lat`, `location.coords.latitude`).
  package var field: String
  package var reason: String
  package var description: String { "\(field) \(reason)" }
}
