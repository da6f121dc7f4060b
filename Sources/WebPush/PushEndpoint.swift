/// A push subscription's endpoint, checked: an absolute `https` URL with a host, no user info, no
/// whitespace or control characters, at most 2048 characters.
///
/// Iris checks endpoints with ``WebPushRequest/validateEndpoint(_:)`` when a browser registers, and
/// the sender checks them again before each POST. The ``origin`` is the VAPID `aud` claim (RFC 8292 section 2).
public struct PushEndpoint: Sendable, Equatable {
  /// The longest endpoint accepted.
  public static let maxLength = 2048

  /// The endpoint as given.
  public let url: String
  /// `https://host[:port]`, the host lowercased and the port left out when it is 443.
  public let origin: String

  /// Parses and checks an endpoint.
  public init(_ url: String) throws(WebPushError) {
    guard !url.isEmpty else { throw WebPushError("endpoint is empty") }
    guard url.utf8.count <= Self.maxLength else {
      throw WebPushError("endpoint is \(url.utf8.count) characters long; at most \(Self.maxLength) are allowed")
    }
    guard url.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
      throw WebPushError("endpoint contains whitespace, control or non-ASCII characters")
    }
    let scheme = "https://"
    guard url.lowercased().hasPrefix(scheme) else {
      throw WebPushError("endpoint must be an absolute https:// URL")
    }
    let rest = url.dropFirst(scheme.count)
    let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    guard !authority.contains("@") else {
      throw WebPushError("endpoint must not contain user information")
    }

    var host = Substring(authority)
    var port: Int?
    if authority.hasPrefix("[") {
      guard let close = authority.firstIndex(of: "]") else {
        throw WebPushError("endpoint has an unterminated IPv6 address")
      }
      host = authority[...close]
      let after = authority[authority.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { throw WebPushError("endpoint has a malformed host") }
        port = try Self.port(after.dropFirst())
      }
    } else if let colon = authority.lastIndex(of: ":") {
      host = authority[..<colon]
      port = try Self.port(authority[authority.index(after: colon)...])
    }
    guard !host.isEmpty, host != "[]" else { throw WebPushError("endpoint has no host") }
    let hostCharactersOK =
      host.hasPrefix("[")
      ? host.dropFirst().dropLast().allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
      : host.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
    guard hostCharactersOK else {
      throw WebPushError("endpoint host '\(host)' contains characters a host name cannot have")
    }

    self.url = url
    var origin = scheme + host.lowercased()
    if let port, port != 443 { origin += ":\(port)" }
    self.origin = origin
  }

  private static func port(_ text: Substring) throws(WebPushError) -> Int {
    guard !text.isEmpty, text.count <= 5, text.allSatisfy(\.isASCII), let value = Int(text), (1...65535).contains(value) else {
      throw WebPushError("endpoint port '\(text)' is not a number in 1...65535")
    }
    return value
  }
}
