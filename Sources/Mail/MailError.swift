/// The one error type of the Mail module: bad input, a template that cannot be rendered, a
/// message that cannot be read.
///
/// ``field`` names what was wrong (`recipient.address`, `variables`, `template`, `header`), so that
/// a caller can hand the text to whoever sent the input; ``description`` reads
/// `"recipient.address: missing '@'"`.
public struct MailError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The input that was rejected, as a dotted path (`sender.name`), or a short noun.
  public var field: String
  /// What is wrong with it, for a person.
  public var reason: String

  public init(field: String, reason: String) {
    self.field = field
    self.reason = reason
  }

  public var description: String { field.isEmpty ? reason : "\(field): \(reason)" }
}
