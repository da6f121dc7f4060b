import ContractRuntime
import Foundation
import GRPCCore

/// The input rules that several RPCs share, each failing with INVALID_ARGUMENT and a message that
/// names the field.
enum Check {
  static func invalid(_ message: String) -> RPCError {
    RPCError(code: .invalidArgument, message: message)
  }

  /// 1 to 200 characters.
  static func idempotencyKey(_ key: String) throws(RPCError) -> String {
    if key.isEmpty { throw invalid("idempotency_key is required: build it from the event id and the recipient") }
    if key.count > 200 { throw invalid("idempotency_key has \(key.count) characters; the most is 200") }
    return key
  }

  /// A UUID in text form (any letter case).
  static func uuid(_ text: String, field: String) throws(RPCError) -> UUID {
    guard text.count == 36, let id = UUID(uuidString: text) else {
      throw invalid("\(field) must be a UUID such as 3f2c1a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b, not \(quoted(text))")
    }
    return id
  }

  /// An optional UUID: empty means none.
  static func optionalUUID(_ text: String, field: String) throws(RPCError) -> UUID? {
    text.isEmpty ? nil : try uuid(text, field: field)
  }

  /// At most `maximum` characters (and at least `minimum`).
  static func length(_ text: String, field: String, _ range: ClosedRange<Int>) throws(RPCError) {
    let count = text.count
    if count < range.lowerBound {
      throw invalid(range.lowerBound == 1 ? "\(field) is required" : "\(field) needs at least \(range.lowerBound) characters")
    }
    if count > range.upperBound { throw invalid("\(field) has \(count) characters; the most is \(range.upperBound)") }
  }

  /// One line: no CR or LF.
  static func oneLine(_ text: String, field: String) throws(RPCError) {
    if text.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) { throw invalid("\(field) must be one line") }
  }

  /// The caller of a route that needs a signed-in user, as a user id.
  static func callerID() throws(RPCError) -> UUID {
    guard let caller = CallContext.current?.caller else {
      throw RPCError(code: .unauthenticated, message: "sign in: this call needs a valid access token")
    }
    guard let id = UUID(uuidString: caller.userID) else {
      throw RPCError(code: .unauthenticated, message: "the access token names no valid user")
    }
    return id
  }

  /// Text for a message, cut to keep messages short.
  static func quoted(_ text: String) -> String {
    let cut = text.count > 60 ? String(text.prefix(60)) + "..." : text
    return "\"\(cut)\""
  }
}

extension UUID {
  /// The canonical lowercase text form that the contracts use.
  var text: String { uuidString.lowercased() }
}
