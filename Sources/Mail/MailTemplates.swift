internal import Foundation

/// A subject, a plain-text body and an HTML body, with every placeholder filled in.
public struct RenderedTemplate: Sendable, Hashable {
  public var subject: String
  public var text: String
  public var html: String

  public init(subject: String, text: String, html: String) {
    self.subject = subject
    self.text = text
    self.html = html
  }
}

/// Named mail templates with `{{name}}` placeholders (blanks inside the braces allowed; names are
/// letters, digits, `_`, `-` and `.`).
///
/// ``render(_:variables:)`` fills all three parts from one list of variables: as they are in the
/// subject and the text, HTML-escaped in the HTML. ``shipped`` holds the templates Iris sends.
public struct MailTemplates: Sendable {
  struct Template: Sendable {
    var subject: String
    var text: String
    var html: String
  }

  let templates: [String: Template]

  /// The names of the templates, sorted.
  public var names: [String] { templates.keys.sorted() }

  public init(_ templates: [String: (subject: String, text: String, html: String)]) {
    self.templates = templates.mapValues { Template(subject: $0.subject, text: $0.text, html: $0.html) }
  }

  /// Fills template `name` in.
  ///
  /// Errors (``MailError``): `template` for an unknown name or a malformed placeholder in the
  /// template; `variables` when a name is given twice or when placeholders have no value (all
  /// missing names are listed); `variables.<name>` when a value used in the subject holds a line
  /// break. Variables the template does not use are ignored.
  public func render(_ name: String, variables: [(name: String, value: String)]) throws(MailError) -> RenderedTemplate {
    guard let template = templates[name] else {
      throw MailError(field: "template", reason: "unknown template '\(name)' (known: \(names.joined(separator: ", ")))")
    }
    var values: [String: String] = [:]
    var duplicates: [String] = []
    for variable in variables {
      if values[variable.name] != nil {
        if !duplicates.contains(variable.name) { duplicates.append(variable.name) }
      } else {
        values[variable.name] = variable.value
      }
    }
    if !duplicates.isEmpty {
      throw MailError(field: "variables", reason: "given more than once: \(duplicates.joined(separator: ", "))")
    }

    let subject = try Self.segments(template.subject, field: "template.\(name).subject")
    let text = try Self.segments(template.text, field: "template.\(name).text")
    let html = try Self.segments(template.html, field: "template.\(name).html")
    var missing: [String] = []
    for segment in subject + text + html {
      if case .placeholder(let variable) = segment, values[variable] == nil, !missing.contains(variable) {
        missing.append(variable)
      }
    }
    if !missing.isEmpty {
      throw MailError(field: "variables", reason: "missing for template '\(name)': \(missing.joined(separator: ", "))")
    }
    for segment in subject {
      if case .placeholder(let variable) = segment,
        let value = values[variable], value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
      {
        throw MailError(field: "variables.\(variable)", reason: "line break not allowed in the subject")
      }
    }
    return RenderedTemplate(
      subject: Self.fill(subject, values, escape: false),
      text: Self.fill(text, values, escape: false),
      html: Self.fill(html, values, escape: true))
  }

  private enum Segment {
    case literal(Substring)
    case placeholder(String)
  }

  private static func segments(_ source: String, field: String) throws(MailError) -> [Segment] {
    var segments: [Segment] = []
    var rest = source[...]
    while let open = rest.range(of: "{{") {
      if open.lowerBound > rest.startIndex { segments.append(.literal(rest[..<open.lowerBound])) }
      guard let close = rest[open.upperBound...].range(of: "}}") else {
        throw MailError(field: field, reason: "'{{' without '}}'")
      }
      let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: [" "])
      guard !name.isEmpty, name.unicodeScalars.allSatisfy(isNameScalar) else {
        throw MailError(field: field, reason: "'{{\(rest[open.upperBound..<close.lowerBound])}}' is not a placeholder name")
      }
      segments.append(.placeholder(name))
      rest = rest[close.upperBound...]
    }
    if !rest.isEmpty { segments.append(.literal(rest)) }
    return segments
  }

  private static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
    guard scalar.isASCII else { return false }
    return ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
      || scalar == "_" || scalar == "-" || scalar == "."
  }

  private static func fill(_ segments: [Segment], _ values: [String: String], escape: Bool) -> String {
    var out = ""
    for segment in segments {
      switch segment {
      case .literal(let text): out += text
      case .placeholder(let name): out += escape ? htmlEscaped(values[name] ?? "") : values[name] ?? ""
      }
    }
    return out
  }

  /// `&`, `<`, `>`, `"` and `'` as character references: safe in text and in quoted attributes.
  static func htmlEscaped(_ value: String) -> String {
    var out = ""
    out.reserveCapacity(value.utf8.count)
    for character in value {
      switch character {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(character)
      }
    }
    return out
  }
}
