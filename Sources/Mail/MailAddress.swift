/// One mailbox: an address and an optional display name.
///
/// Values are plain data; call ``validated(field:)`` on anything that came from outside before
/// putting it in a message.
public struct MailAddress: Sendable, Hashable, CustomStringConvertible {
  /// The addr-spec, `local@domain`.
  public var address: String
  /// The display name, empty for none.
  public var name: String

  public init(address: String, name: String = "") {
    self.address = address
    self.name = name
  }

  public var description: String { name.isEmpty ? address : "\(name) <\(address)>" }

  /// The domain part (after the `@`), or an empty string when there is none.
  var domain: String {
    guard let at = address.lastIndex(of: "@") else { return "" }
    return String(address[address.index(after: at)...])
  }

  /// Checks the address and name and returns them unchanged.
  ///
  /// Rules: at most 254 characters, exactly one `@`, a non-empty local part without spaces,
  /// control characters or the characters that would break a header (`<>()[],;:\"`), a domain with
  /// at least one dot whose labels are 1 to 63 letters, digits or hyphens (not at either end;
  /// non-ASCII letters are accepted for internationalized domains), a name of at most 100
  /// characters, and no control characters (CR and LF above all) anywhere.
  ///
  /// - Parameter field: names the input in the error, e.g. `recipient` gives `recipient.address: missing '@'`.
  public func validated(field: String) throws(MailError) -> MailAddress {
    let addressField = field.isEmpty ? "address" : "\(field).address"
    let nameField = field.isEmpty ? "name" : "\(field).name"
    func fail(_ field: String, _ reason: String) -> MailError { MailError(field: field, reason: reason) }

    if address.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
      throw fail(addressField, "contains a line break")
    }
    if name.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) {
      throw fail(nameField, "contains a line break")
    }
    if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
      throw fail(nameField, "contains a control character")
    }
    if name.count > 100 { throw fail(nameField, "too long (\(name.count) characters, at most 100)") }
    if address.isEmpty { throw fail(addressField, "empty") }
    if address.count > 254 { throw fail(addressField, "too long (\(address.count) characters, at most 254)") }

    let parts = address.split(separator: "@", omittingEmptySubsequences: false)
    if parts.count < 2 { throw fail(addressField, "missing '@'") }
    if parts.count > 2 { throw fail(addressField, "more than one '@'") }
    let local = parts[0]
    let domain = parts[1]

    if local.isEmpty { throw fail(addressField, "empty local part") }
    for scalar in local.unicodeScalars {
      if scalar == " " || scalar == "\t" || scalar.properties.generalCategory == .control
        || scalar.properties.isWhitespace
      {
        throw fail(addressField, "local part contains a space or control character")
      }
      if "<>()[],;:\\\"".unicodeScalars.contains(scalar) {
        throw fail(addressField, "local part contains '\(scalar)'")
      }
    }

    if domain.isEmpty { throw fail(addressField, "empty domain") }
    if !domain.contains(".") { throw fail(addressField, "domain '\(domain)' needs at least one dot") }
    for label in domain.split(separator: ".", omittingEmptySubsequences: false) {
      if label.isEmpty { throw fail(addressField, "domain '\(domain)' has an empty label") }
      if label.utf8.count > 63 && label.allSatisfy(\.isASCII) {
        throw fail(addressField, "domain label '\(label)' is longer than 63 characters")
      }
      if label.first == "-" || label.last == "-" {
        throw fail(addressField, "domain label '\(label)' starts or ends with '-'")
      }
      for scalar in label.unicodeScalars where !Self.isLabelScalar(scalar) {
        throw fail(addressField, "domain label '\(label)' contains '\(scalar)'")
      }
    }
    return self
  }

  /// Letters, digits and hyphens; beyond ASCII, the letters, marks and digits of an IDN label.
  private static func isLabelScalar(_ scalar: Unicode.Scalar) -> Bool {
    if scalar.isASCII {
      return ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
        || scalar == "-"
    }
    switch scalar.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
      .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber:
      return true
    default:
      return false
    }
  }
}
