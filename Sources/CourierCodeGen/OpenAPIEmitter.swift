import Foundation
import SwiftProtobuf
import SwiftProtobufPluginLibrary

/// Writes the OpenAPI 3.1 document of one service: its REST paths with path and query parameters,
/// request and response schemas following the proto3 JSON mapping (lowerCamel names, 64-bit integers
/// as strings, enums by name, Timestamp as RFC 3339 text), the error schema and bearer auth.
/// Proto comments become descriptions.
struct OpenAPIEmitter {
  let file: FileDescriptor
  let service: ServiceDescriptor
  let routes: [RESTBindingModel]

  func document() -> String {
    var schemas = SchemaCollector()
    var paths: [(String, JSON)] = []
    var pathOrder: [String] = []
    var operationsByPath: [String: [(String, JSON)]] = [:]
    for route in routes {
      let path = route.rule.pathTemplate
      if operationsByPath[path] == nil { pathOrder.append(path) }
      operationsByPath[path, default: []].append((route.rule.verb.rawValue.lowercased(), operation(route, schemas: &schemas)))
    }
    for path in pathOrder {
      paths.append((path, .object(operationsByPath[path]!)))
    }
    var components: [(String, JSON)] = schemas.schemas
    components.append((
      "Error",
      .object([
        ("type", "object"),
        ("description", "The error body of every failed call."),
        ("required", .array(["code", "message"])),
        ("properties", .object([
          ("code", .object([
            ("type", "string"),
            ("description", "The gRPC status code name."),
            ("enum", .array(Self.statusCodes.map { .string($0) })),
          ])),
          ("message", .object([("type", "string"), ("description", "What went wrong, for a person.")])),
          ("details", .object([
            ("type", "array"),
            ("description", "Structured details, such as the field at fault."),
            ("items", .object([("type", "object")])),
          ])),
        ])),
      ])
    ))
    let root: JSON = .object([
      ("openapi", "3.1.0"),
      ("info", .object([
        ("title", .string(service.fullName)),
        ("version", .string(Self.version(of: file.package))),
        ("description", .string(Self.comment(service.protoSourceComments(commentPrefix: "")))),
      ])),
      ("paths", .object(paths)),
      ("components", .object([
        ("schemas", .object(components)),
        ("securitySchemes", .object([
          ("bearerAuth", .object([("type", "http"), ("scheme", "bearer")])),
        ])),
      ])),
    ])
    return root.rendered()
  }

  private func operation(_ route: RESTBindingModel, schemas: inout SchemaCollector) -> JSON {
    let method = route.method
    var members: [(String, JSON)] = [
      ("operationId", .string("\(service.name)_\(method.name)")),
      ("summary", .string(Self.firstSentence(of: method.protoSourceComments(commentPrefix: "")))),
      ("description", .string(Self.comment(method.protoSourceComments(commentPrefix: "")))),
      ("tags", .array([.string(service.name)])),
    ]
    var parameters: [JSON] = []
    for field in route.pathFields {
      parameters.append(.object([
        ("name", .string(field.name)),
        ("in", "path"),
        ("required", true),
        ("description", .string(Self.comment(field.descriptor.protoSourceComments(commentPrefix: "")))),
        ("schema", pathSchema(field, schemas: &schemas)),
      ]))
    }
    for field in route.queryFields {
      var parameter: [(String, JSON)] = [
        ("name", .string(field.name)),
        ("in", "query"),
        ("required", false),
        ("description", .string(Self.comment(field.descriptor.protoSourceComments(commentPrefix: "")))),
      ]
      let scalar = schemas.schema(of: field.descriptor, ignoringRepeated: true)
      if field.isRepeated {
        parameter.append(("schema", .object([("type", "array"), ("items", scalar)])))
        parameter.append(("style", "form"))
        parameter.append(("explode", true))
      } else {
        parameter.append(("schema", scalar))
      }
      parameters.append(.object(parameter))
    }
    if !parameters.isEmpty {
      members.append(("parameters", .array(parameters)))
    }
    if let body = requestBodySchema(route, schemas: &schemas) {
      members.append(("requestBody", .object([
        ("required", false),
        ("content", .object([("application/json", .object([("schema", body)]))])),
      ])))
    }
    let output = schemas.reference(to: method.outputType)
    let success: JSON
    if method.serverStreaming {
      success = .object([
        ("description", .string("Server-Sent Events: one `data:` line per message, each a JSON object of \(method.outputType.fullName); comment lines keep the connection alive; an `error` event ends a failed stream.")),
        ("content", .object([
          ("text/event-stream", .object([("schema", .object([("type", "string")]))])),
        ])),
      ])
    } else {
      success = .object([
        ("description", .string("The \(method.outputType.name).")),
        ("content", .object([("application/json", .object([("schema", output)]))])),
      ])
    }
    let error: JSON = .object([
      ("description", "An error: the HTTP status follows the gRPC code (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS 409, FAILED_PRECONDITION 400, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, ...)."),
      ("content", .object([("application/json", .object([("schema", .object([("$ref", "#/components/schemas/Error")]))]))])),
    ])
    members.append(("responses", .object([("200", success), ("default", error)])))
    switch try? accessIsPublic(method) {
    case true?: members.append(("security", .array([])))
    default: members.append(("security", .array([.object([("bearerAuth", .array([]))])])))
    }
    return .object(members)
  }

  private func accessIsPublic(_ method: MethodDescriptor) throws -> Bool {
    let options = try CourierOptions(unknownFields: Array(method.options.unknownFields.data))
    return options.access?.level == .publicAccess
  }

  /// Path variables are never empty: strings get `minLength: 1`.
  private func pathSchema(_ field: RESTBindingModel.BoundField, schemas: inout SchemaCollector) -> JSON {
    let schema = schemas.schema(of: field.descriptor, ignoringRepeated: true)
    guard case .object(var members) = schema else { return schema }
    if field.kind == "string" || field.kind == "bytes" {
      members.append(("minLength", 1))
      // A slash would start another path segment; keep generated examples to one segment.
      members.append(("pattern", "^[^/]+$"))
    }
    return .object(members)
  }

  private func requestBodySchema(_ route: RESTBindingModel, schemas: inout SchemaCollector) -> JSON? {
    switch route.rule.body {
    case "":
      return nil
    case "*":
      let input = route.method.inputType!
      let bound = Set(route.pathFields.map { $0.name.split(separator: ".").first.map(String.init) ?? $0.name })
      return schemas.objectSchema(of: input, excluding: bound)
    default:
      guard let field = route.bodyField else { return nil }
      return schemas.schema(of: field, ignoringRepeated: false)
    }
  }

  // MARK: Text

  static func version(of package: String) -> String {
    let last = package.split(separator: ".").last.map(String.init) ?? ""
    return last.hasPrefix("v") ? last : "v1"
  }

  /// A proto comment as one text: lines joined, blank lines kept as paragraph breaks.
  static func comment(_ raw: String) -> String {
    raw.split(separator: "\n", omittingEmptySubsequences: false)
      .map { $0.trimmingCharacters(in: .whitespaces) }
      .joined(separator: "\n")
      .trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static func firstSentence(of raw: String) -> String {
    let text = comment(raw).replacingOccurrences(of: "\n", with: " ")
    if let end = text.range(of: ". ") {
      return String(text[..<end.lowerBound]) + "."
    }
    return text
  }

  static let statusCodes = [
    "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
  ]
}

/// Gathers `components.schemas` for every message a service's routes reach.
struct SchemaCollector {
  private(set) var schemas: [(String, JSON)] = []
  private var seen: Set<String> = []

  /// A `$ref` to the named schema of a message, adding it (and what it reaches) on first use.
  mutating func reference(to message: Descriptor) -> JSON {
    if let special = wellKnown(message) { return special }
    let name = message.fullName
    if !seen.contains(name) {
      seen.insert(name)
      let index = schemas.count
      schemas.append((name, .null))
      schemas[index].1 = objectSchema(of: message, excluding: [])
    }
    return .object([("$ref", .string("#/components/schemas/\(name)"))])
  }

  mutating func objectSchema(of message: Descriptor, excluding: Set<String>) -> JSON {
    var properties: [(String, JSON)] = []
    for field in message.fields where !excluding.contains(field.name) {
      var schema = schema(of: field, ignoringRepeated: false)
      let description = OpenAPIEmitter.comment(field.protoSourceComments(commentPrefix: ""))
      if case .object(var members) = schema, !description.isEmpty, !members.contains(where: { $0.0 == "$ref" }) {
        members.append(("description", .string(description)))
        schema = .object(members)
      }
      properties.append((field.jsonName ?? field.name, schema))
    }
    var members: [(String, JSON)] = [("type", "object")]
    let description = OpenAPIEmitter.comment(message.protoSourceComments(commentPrefix: ""))
    if !description.isEmpty { members.append(("description", .string(description))) }
    members.append(("properties", .object(properties)))
    members.append(("additionalProperties", false))
    return .object(members)
  }

  mutating func schema(of field: FieldDescriptor, ignoringRepeated: Bool) -> JSON {
    if field.isMap, let (_, value) = field.messageType.mapKeyAndValue {
      return .object([("type", "object"), ("additionalProperties", schema(of: value, ignoringRepeated: true))])
    }
    let single: JSON
    switch field.type {
    case .string: single = .object([("type", "string")])
    case .bytes: single = .object([("type", "string"), ("contentEncoding", "base64")])
    case .bool: single = .object([("type", "boolean")])
    case .int32, .sint32, .sfixed32:
      single = .object([("type", "integer"), ("format", "int32")])
    case .uint32, .fixed32:
      single = .object([("type", "integer"), ("format", "int32"), ("minimum", 0), ("maximum", 4_294_967_295)])
    case .int64, .sint64, .sfixed64:
      single = .object([("type", "string"), ("format", "int64"), ("pattern", "^-?[0-9]+$")])
    case .uint64, .fixed64:
      single = .object([("type", "string"), ("format", "uint64"), ("pattern", "^[0-9]+$")])
    case .float, .double:
      single = .object([
        ("oneOf", .array([
          .object([("type", "number")]),
          .object([("type", "string"), ("enum", .array(["NaN", "Infinity", "-Infinity"]))]),
        ])),
      ])
    case .enum:
      single = .object([("type", "string"), ("enum", .array(field.enumType.values.map { .string($0.name) }))])
    case .message, .group:
      single = reference(to: field.messageType)
    @unknown default:
      single = .object([])
    }
    if field.isRepeated && !ignoringRepeated {
      return .object([("type", "array"), ("items", single)])
    }
    return single
  }

  private func wellKnown(_ message: Descriptor) -> JSON? {
    switch message.wellKnownType {
    case .timestamp?: return .object([("type", "string"), ("format", "date-time")])
    case .duration?: return .object([("type", "string"), ("pattern", "^-?[0-9]+(\\.[0-9]{1,9})?s$")])
    case .fieldMask?: return .object([("type", "string")])
    case .stringValue?: return .object([("type", .array(["string", "null"]))])
    case .bytesValue?: return .object([("type", .array(["string", "null"])), ("contentEncoding", "base64")])
    case .boolValue?: return .object([("type", .array(["boolean", "null"]))])
    case .int32Value?, .uint32Value?: return .object([("type", .array(["integer", "null"]))])
    case .int64Value?, .uint64Value?: return .object([("type", .array(["string", "null"])), ("pattern", "^-?[0-9]+$")])
    case .floatValue?, .doubleValue?: return .object([("type", .array(["number", "string", "null"]))])
    case .struct?: return .object([("type", "object")])
    case .value?: return .object([])
    case .listValue?: return .object([("type", "array")])
    case .any?: return .object([("type", "object"), ("properties", .object([("@type", .object([("type", "string")]))]))])
    default:
      return message.fullName == "google.protobuf.Empty" ? .object([("type", "object"), ("additionalProperties", false)]) : nil
    }
  }
}

/// A JSON value with ordered object members, so that generated documents are stable and readable.
indirect enum JSON: Equatable, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByArrayLiteral
{
  case null
  case bool(Bool)
  case int(Int)
  case string(String)
  case array([JSON])
  case object([(String, JSON)])

  init(stringLiteral value: String) { self = .string(value) }
  init(booleanLiteral value: Bool) { self = .bool(value) }
  init(integerLiteral value: Int) { self = .int(value) }
  init(arrayLiteral elements: JSON...) { self = .array(elements) }

  static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.rendered() == rhs.rendered() }

  func rendered() -> String {
    var out = ""
    render(into: &out)
    return out
  }

  private func render(into out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let value): out += value ? "true" : "false"
    case .int(let value): out += String(value)
    case .string(let value): Self.quote(value, into: &out)
    case .array(let values):
      out += "["
      for (index, value) in values.enumerated() {
        if index > 0 { out += "," }
        value.render(into: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (index, (key, value)) in members.enumerated() {
        if index > 0 { out += "," }
        Self.quote(key, into: &out)
        out += ":"
        value.render(into: &out)
      }
      out += "}"
    }
  }

  private static func quote(_ text: String, into out: inout String) {
    out += "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }
}
