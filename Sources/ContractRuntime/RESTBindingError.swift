/// Why a REST request could not be turned into its request message. The gateway answers it with
/// HTTP 400 and code `INVALID_ARGUMENT`; `field` names the offending field or parameter.
public struct RESTBindingError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The field, path variable or query parameter at fault (`page.page_size`); empty when the
  /// problem is the body as a whole.
  public let field: String
  /// What is wrong, for a person: `not valid JSON`, `unknown field`.
  public let reason: String

  public init(field: String, reason: String) {
    self.field = field
    self.reason = reason
  }

  public var description: String {
    field.isEmpty ? reason : "\(field): \(reason)"
  }
}

/// Thrown into a server stream when the client reads so slowly that its buffer of pending messages
/// is full. The gateway ends the stream with `RESOURCE_EXHAUSTED`.
public struct RESTStreamOverflowError: Error, Sendable, Hashable, CustomStringConvertible {
  /// How many messages were waiting.
  public let limit: Int

  public init(limit: Int) {
    self.limit = limit
  }

  public var description: String {
    "the client read so slowly that \(limit) messages were waiting"
  }
}
