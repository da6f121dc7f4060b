import Foundation
import Generated
import GRPCCore

/// The request checks every Hermes RPC shares; each failure is INVALID_ARGUMENT naming the field.
enum Validation {
  static func invalid(_ field: String, _ problem: String) -> RPCError {
    RPCError(code: .invalidArgument, message: "\(field) \(problem)")
  }

  /// A UUID in canonical lowercase text form.
  static func uuid(_ text: String, field: String) throws(RPCError) -> UUID {
    guard let id = UUID(uuidString: text), id.uuidString.lowercased() == text else {
      throw invalid(field, "must be a UUID in canonical lowercase form, got '\(text.prefix(60))'")
    }
    return id
  }

  /// The upper-case tracking code.
  static func trackingCode(_ text: String, field: String = "payload_tracking_code") throws(RPCError) -> String {
    guard let code = TrackingCode.canonical(text) else {
      throw invalid(field, "must be 12 characters of Crockford's base32 alphabet, got '\(text.prefix(60))'")
    }
    return code
  }

  /// A point with latitude in -90...90 and longitude in -180...180.
  static func point(_ point: Courier_Common_V1_GeoPoint, field: String) throws(RPCError) -> Courier_Common_V1_GeoPoint {
    guard point.latitude.isFinite, (-90...90).contains(point.latitude) else {
      throw invalid("\(field).latitude", "must be between -90 and 90, got \(point.latitude)")
    }
    guard point.longitude.isFinite, (-180...180).contains(point.longitude) else {
      throw invalid("\(field).longitude", "must be between -180 and 180, got \(point.longitude)")
    }
    return point
  }

  /// `text` when its length in characters is within `range`.
  static func length(_ text: String, field: String, in range: ClosedRange<Int>) throws(RPCError) -> String {
    guard range.contains(text.count) else {
      throw invalid(field, "must be \(range.lowerBound) to \(range.upperBound) characters, got \(text.count)")
    }
    return text
  }
}

extension UUID {
  /// Canonical lowercase text, as every Hermes message carries ids.
  var text: String { uuidString.lowercased() }
}
