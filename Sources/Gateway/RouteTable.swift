public import ContractRuntime

/// Matches request paths against the generated routes' templates.
///
/// Rules: a path is split on `/` before percent-decoding, so `%2F` stays inside one variable; literal
/// segments win over variables (`/deliverers/live` beats `/deliverers/{id}`); one trailing slash is
/// ignored; a variable never matches an empty segment, and a path that would match but for an empty
/// or absent last variable is reported as `missingVariable` so that the caller can answer 400 naming
/// the field. Two routes with the same verb and shape are refused when the table is built.
public struct RouteTable: Sendable {
  enum Segment: Equatable, Sendable {
    case literal(String)
    case variable(String)
  }

  struct Entry: Sendable {
    let route: RESTRoute
    let verb: String
    let segments: [Segment]
  }

  /// What a path resolves to.
  public enum Match: Sendable {
    /// A route, with its path variable values by field path.
    case route(RESTRoute, pathValues: [String: String])
    /// The path fits a route of this verb except that the variable `field` is empty or absent.
    case missingVariable(field: String)
    /// Routes exist at this path, but for other verbs.
    case methodNotAllowed(allowed: [String])
    case notFound
    /// The path is not a valid percent-encoded absolute path.
    case malformedPath(reason: String)
  }

  private let entries: [Entry]

  /// - Throws: `GatewaySetupError` when a template is malformed or two routes conflict.
  public init(routes: [RESTRoute]) throws(GatewaySetupError) {
    var entries: [Entry] = []
    for route in routes {
      let template = route.spec.http.pathTemplate
      let segments = try Self.parse(template: template)
      let entry = Entry(route: route, verb: route.spec.http.verb.rawValue, segments: segments)
      if let other = entries.first(where: { $0.verb == entry.verb && Self.sameShape($0.segments, segments) }) {
        throw .conflictingRoutes(
          "\(entry.verb) \(template) (\(route.spec.service).\(route.spec.method))",
          "\(other.verb) \(other.route.spec.http.pathTemplate) (\(other.route.spec.service).\(other.route.spec.method))"
        )
      }
      entries.append(entry)
    }
    self.entries = entries
  }

  /// Every mounted route.
  public var routes: [RESTRoute] { entries.map(\.route) }

  public func match(method: String, path: String) -> Match {
    guard path.hasPrefix("/") else { return .malformedPath(reason: "the path must start with '/'") }
    var segments: [String] = []
    for raw in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
      guard let decoded = Self.percentDecode(raw) else {
        return .malformedPath(reason: "the path has a malformed percent-encoding in '\(raw)'")
      }
      segments.append(decoded)
    }
    if segments == [""] { segments = [] }

    if let found = best(method: method, segments: segments) { return found }
    if segments.count > 1, segments.last == "" {
      let trimmed = Array(segments.dropLast())
      if let found = best(method: method, segments: trimmed) { return found }
    }
    // A route of this verb that fits but for an empty or absent variable.
    for entry in entries where entry.verb == method {
      if let field = Self.missingVariable(entry.segments, segments) {
        return .missingVariable(field: field)
      }
    }
    var allowed: [String] = []
    for entry in entries where entry.verb != method {
      var candidates = [segments]
      if segments.count > 1, segments.last == "" { candidates.append(Array(segments.dropLast())) }
      if candidates.contains(where: { Self.bind(entry.segments, $0) != nil }), !allowed.contains(entry.verb) {
        allowed.append(entry.verb)
      }
    }
    return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed.sorted())
  }

  private func best(method: String, segments: [String]) -> Match? {
    var winner: (entry: Entry, values: [String: String])?
    for entry in entries where entry.verb == method && entry.segments.count == segments.count {
      guard let values = Self.bind(entry.segments, segments) else { continue }
      if let current = winner, !Self.moreSpecific(entry.segments, than: current.entry.segments) { continue }
      winner = (entry, values)
    }
    return winner.map { .route($0.entry.route, pathValues: $0.values) }
  }

  static func bind(_ template: [Segment], _ segments: [String]) -> [String: String]? {
    guard template.count == segments.count else { return nil }
    var values: [String: String] = [:]
    for (part, segment) in zip(template, segments) {
      switch part {
      case .literal(let text): guard text == segment else { return nil }
      case .variable(let name):
        guard !segment.isEmpty else { return nil }
        values[name] = segment
      }
    }
    return values
  }

  static func missingVariable(_ template: [Segment], _ segments: [String]) -> String? {
    var padded = segments
    if padded.count == template.count - 1 { padded.append("") }
    guard padded.count == template.count else { return nil }
    var missing: String?
    for (part, segment) in zip(template, padded) {
      switch part {
      case .literal(let text): guard text == segment else { return nil }
      case .variable(let name): if segment.isEmpty && missing == nil { missing = name }
      }
    }
    return missing
  }

  /// Literal segments beat variables, earliest position first.
  static func moreSpecific(_ lhs: [Segment], than rhs: [Segment]) -> Bool {
    for (left, right) in zip(lhs, rhs) {
      switch (left, right) {
      case (.literal, .variable): return true
      case (.variable, .literal): return false
      default: continue
      }
    }
    return false
  }

  static func sameShape(_ lhs: [Segment], _ rhs: [Segment]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    return zip(lhs, rhs).allSatisfy { pair in
      switch pair {
      case (.literal(let a), .literal(let b)): return a == b
      case (.variable, .variable): return true
      default: return false
      }
    }
  }

  static func parse(template: String) throws(GatewaySetupError) -> [Segment] {
    guard template.hasPrefix("/") else { throw .badTemplate(template) }
    if template == "/" { return [] }
    return try template.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
      part throws(GatewaySetupError) in
      if part.isEmpty { throw .badTemplate(template) }
      if part.hasPrefix("{") && part.hasSuffix("}") && part.count > 2 {
        return .variable(String(part.dropFirst().dropLast()))
      }
      if part.contains("{") || part.contains("}") { throw .badTemplate(template) }
      return .literal(String(part))
    }
  }

  /// Strict percent-decoding of one path segment (`+` stays `+`); nil when malformed.
  static func percentDecode(_ text: Substring) -> String? {
    guard text.contains("%") else { return String(text) }
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
      if byte == UInt8(ascii: "%") {
        guard iterator.count >= 2, let high = hex(iterator.popFirst()!), let low = hex(iterator.popFirst()!) else {
          return nil
        }
        bytes.append(high << 4 | low)
      } else {
        bytes.append(byte)
      }
    }
    return String(validating: bytes, as: UTF8.self)
  }

  /// Decodes a query component: `+` is a space, `%XX` a byte.
  static func queryDecode(_ text: Substring) -> String? {
    guard text.contains("%") || text.contains("+") else { return String(text) }
    return percentDecode(Substring(String(text.map { $0 == "+" ? " " : $0 })))
  }

  private static func hex(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}

/// Why a gateway could not be set up.
public enum GatewaySetupError: Error, Equatable, CustomStringConvertible {
  case conflictingRoutes(String, String)
  case badTemplate(String)

  public var description: String {
    switch self {
    case .conflictingRoutes(let first, let second):
      return "gateway: route \(first) conflicts with \(second); give one of them another path"
    case .badTemplate(let template):
      return "gateway: path template '\(template)' is malformed"
    }
  }
}
