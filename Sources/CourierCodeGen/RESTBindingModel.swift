import SwiftProtobuf
import SwiftProtobufPluginLibrary

/// How one RPC's HTTP rule binds its request message, worked out from the descriptors: which fields
/// the path variables name, which field is the body, and which scalar fields a query parameter may
/// set (gRPC-JSON transcoding rules). Shared by the route emitter and the OpenAPI emitter.
struct RESTBindingModel {
  /// One field reached from the request message by a dotted path.
  struct BoundField {
    /// Proto names: `page.page_size`.
    var name: String
    /// JSON names: `["page", "pageSize"]`.
    var jsonPath: [String]
    /// The kind literal of `ContractRuntime.RESTField.Kind`: `string`, `int32`, ...
    var kind: String
    var isRepeated: Bool
    /// The leaf field.
    var descriptor: FieldDescriptor
  }

  /// A path template segment.
  enum Segment: Equatable {
    case literal(String)
    case variable(String)
  }

  let method: MethodDescriptor
  let rule: HTTPRule
  let segments: [Segment]
  let pathFields: [BoundField]
  let queryFields: [BoundField]
  /// The top-level field named by `body`, when `body` names one.
  let bodyField: FieldDescriptor?

  var element: String { "\(method.service.fullName).\(method.name)" }

  init(method: MethodDescriptor, rule: HTTPRule) throws(GenerationError) {
    self.method = method
    self.rule = rule
    let element = "\(method.service.fullName).\(method.name)"
    if method.clientStreaming {
      throw .badOption(element: element, reason: "a client-streaming RPC cannot have an HTTP rule; REST has no request stream")
    }
    let segments = try Self.parse(template: rule.pathTemplate, element: element)
    self.segments = segments

    let input = method.inputType!
    var pathFields: [BoundField] = []
    for case .variable(let name) in segments {
      let field = try Self.resolve(path: name, in: input, element: element)
      guard !field.isRepeated, field.kind != "message" else {
        throw .badOption(element: element, reason: "path variable {\(name)} must name a singular scalar field")
      }
      if pathFields.contains(where: { $0.name == name }) {
        throw .badOption(element: element, reason: "path variable {\(name)} appears twice")
      }
      pathFields.append(field)
    }
    self.pathFields = pathFields

    switch rule.body {
    case "":
      bodyField = nil
    case "*":
      bodyField = nil
    default:
      guard let field = input.fields.first(where: { $0.name == rule.body }) else {
        throw .badOption(element: element, reason: "body '\(rule.body)' is not a field of \(input.fullName)")
      }
      if pathFields.contains(where: { $0.name == rule.body || $0.name.hasPrefix(rule.body + ".") }) {
        throw .badOption(element: element, reason: "body '\(rule.body)' is also bound by the path")
      }
      bodyField = field
    }
    if (rule.verb == .get || rule.verb == .delete) && !rule.body.isEmpty {
      throw .badOption(element: element, reason: "a \(rule.verb.rawValue) rule must not declare a body")
    }

    if rule.body == "*" {
      queryFields = []
    } else {
      var query: [BoundField] = []
      let bound = Set(pathFields.map(\.name))
      Self.collectQueryFields(
        of: input,
        prefix: [],
        jsonPrefix: [],
        skip: { path in bound.contains(path) || (rule.body.isEmpty ? false : path == rule.body) },
        visited: [input.fullName],
        into: &query
      )
      queryFields = query
    }
  }

  // MARK: Template

  static func parse(template: String, element: String) throws(GenerationError) -> [Segment] {
    guard template.hasPrefix("/") else {
      throw .badOption(element: element, reason: "path template '\(template)' must start with '/'")
    }
    if template == "/" { return [] }
    var result: [Segment] = []
    for part in template.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
      if part.isEmpty {
        throw .badOption(element: element, reason: "path template '\(template)' has an empty segment")
      }
      if part.hasPrefix("{") && part.hasSuffix("}") {
        let name = String(part.dropFirst().dropLast())
        let isIdentifier = !name.isEmpty && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { word in
          !word.isEmpty && word.allSatisfy { $0 == "_" || $0.isASCIIDigit || ("a"..."z").contains($0) || ("A"..."Z").contains($0) }
        }
        guard isIdentifier else {
          throw .badOption(
            element: element,
            reason: "path variable '\(part)' must be {field} or {a.b}; patterns such as {name=*} are not supported"
          )
        }
        result.append(.variable(name))
      } else if part.contains("{") || part.contains("}") || part.contains("*") || part.contains(":") {
        throw .badOption(element: element, reason: "path segment '\(part)' must be a literal or a whole {variable}")
      } else {
        result.append(.literal(String(part)))
      }
    }
    return result
  }

  // MARK: Fields

  private static func resolve(path: String, in message: Descriptor, element: String) throws(GenerationError) -> BoundField {
    var current = message
    var jsonPath: [String] = []
    let names = path.split(separator: ".").map(String.init)
    for (index, name) in names.enumerated() {
      guard let field = current.fields.first(where: { $0.name == name }) else {
        throw .badOption(element: element, reason: "path variable {\(path)}: '\(name)' is not a field of \(current.fullName)")
      }
      jsonPath.append(field.jsonName ?? field.name)
      if index == names.count - 1 {
        return BoundField(name: path, jsonPath: jsonPath, kind: kind(of: field), isRepeated: field.isRepeated, descriptor: field)
      }
      guard field.type == .message, !field.isRepeated, let next = field.messageType else {
        throw .badOption(element: element, reason: "path variable {\(path)}: '\(name)' is not a singular message field")
      }
      current = next
    }
    throw .badOption(element: element, reason: "path variable {\(path)} is empty")
  }

  private static func collectQueryFields(
    of message: Descriptor,
    prefix: [String],
    jsonPrefix: [String],
    skip: (String) -> Bool,
    visited: Set<String>,
    into result: inout [BoundField]
  ) {
    for field in message.fields {
      let path = prefix + [field.name]
      let name = path.joined(separator: ".")
      if skip(name) || field.isMap { continue }
      let jsonPath = jsonPrefix + [field.jsonName ?? field.name]
      let fieldKind = kind(of: field)
      if fieldKind != "message" {
        result.append(BoundField(name: name, jsonPath: jsonPath, kind: fieldKind, isRepeated: field.isRepeated, descriptor: field))
      } else if !field.isRepeated, let nested = field.messageType, !visited.contains(nested.fullName), path.count < 4 {
        collectQueryFields(
          of: nested, prefix: path, jsonPrefix: jsonPath, skip: skip,
          visited: visited.union([nested.fullName]), into: &result
        )
      }
    }
  }

  /// The `RESTField.Kind` of a field, or `message` for a message that URLs cannot carry.
  static func kind(of field: FieldDescriptor) -> String {
    switch field.type {
    case .string: return "string"
    case .bytes: return "bytes"
    case .bool: return "bool"
    case .int32, .sint32, .sfixed32, .uint32, .fixed32: return "int32"
    case .int64, .sint64, .sfixed64, .uint64, .fixed64: return "int64"
    case .float, .double: return "floatingPoint"
    case .enum: return "enumeration"
    case .message, .group:
      switch field.messageType?.wellKnownType {
      case .timestamp?, .duration?, .fieldMask?, .stringValue?: return "string"
      case .bytesValue?: return "bytes"
      case .boolValue?: return "bool"
      case .int32Value?, .uint32Value?: return "int32"
      case .int64Value?, .uint64Value?: return "int64"
      case .floatValue?, .doubleValue?: return "floatingPoint"
      default: return "message"
      }
    @unknown default:
      return "message"
    }
  }
}
