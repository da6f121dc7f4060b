package import Foundation
package import GRPCCore

/// The field rules of asgardian.proto (SignUp, UpdateProfileData, ResetPassword). Each check
/// returns the normalized value or throws INVALID_ARGUMENT naming the field.
package enum Validation {
  /// `email`: surrounding spaces removed, at most 254 characters, exactly one `@` with a non-empty
  /// local part, a domain with at least one dot and no empty label, no spaces or control characters.
  package static func email(_ raw: String, field: String = "email") throws(RPCError) -> String {
    let email = raw.trimmingCharacters(in: .whitespaces)
    guard !email.isEmpty else { throw invalid(field, "is required") }
    guard email.count <= 254 else { throw invalid(field, "is longer than 254 characters") }
    guard !email.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control })
    else { throw invalid(field, "must not contain spaces or control characters") }
    let parts = email.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2 else { throw invalid(field, "must contain exactly one '@'") }
    guard !parts[0].isEmpty else { throw invalid(field, "needs a name before the '@'") }
    let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
    guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty }) else {
      throw invalid(field, "needs a domain with at least one dot after the '@' (like example.com)")
    }
    return email
  }

  /// `display_name`: 1 to 100 characters after surrounding spaces are removed; no control characters.
  package static func displayName(_ raw: String, field: String = "display_name") throws(RPCError) -> String {
    let name = raw.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !name.isEmpty else { throw invalid(field, "is required (1 to 100 characters)") }
    guard name.count <= 100 else { throw invalid(field, "is longer than 100 characters") }
    guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
      throw invalid(field, "must not contain control characters")
    }
    return name
  }

  /// `phone_number`: empty, or E.164: `+`, then 2 to 15 digits, the first not 0.
  package static func phoneNumber(_ raw: String, field: String = "phone_number") throws(RPCError) -> String {
    if raw.isEmpty { return raw }
    let bytes = Array(raw.utf8)
    guard bytes.count >= 3, bytes.count <= 16, bytes[0] == UInt8(ascii: "+"), bytes[1] >= UInt8(ascii: "1"), bytes[1] <= UInt8(ascii: "9"),
      bytes.dropFirst(2).allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
    else {
      throw invalid(field, "must be E.164: '+' and 2 to 15 digits, the first not 0, without spaces (like +4915123456789)")
    }
    return raw
  }

  /// `password`: 8 to 128 Unicode scalar values, anything else allowed.
  package static func password(_ raw: String, field: String = "password") throws(RPCError) -> String {
    let count = raw.unicodeScalars.count
    guard count >= 8 else { throw invalid(field, "must have at least 8 characters") }
    guard count <= 128 else { throw invalid(field, "must have at most 128 characters") }
    return raw
  }

  /// A user id: a UUID in text form.
  package static func userID(_ raw: String, field: String = "user_id") throws(RPCError) -> UUID {
    guard !raw.isEmpty else { throw invalid(field, "is required") }
    guard raw.utf8.count == 36, let id = UUID(uuidString: raw) else { throw invalid(field, "is not a UUID") }
    return id
  }

  /// Text of at most `limit` characters.
  package static func maxLength(_ raw: String, _ limit: Int, field: String) throws(RPCError) {
    guard raw.count <= limit else { throw invalid(field, "is longer than \(limit) characters") }
  }

  package static func invalid(_ field: String, _ reason: String) -> RPCError {
    RPCError(code: .invalidArgument, message: "invalid '\(field)': \(field) \(reason)")
  }
}
