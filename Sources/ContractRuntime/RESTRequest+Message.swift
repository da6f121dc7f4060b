import Foundation
public import SwiftProtobuf

extension RESTRequest {
  /// Builds the request message the way gRPC-JSON transcoding does: the JSON body (all of it with
  /// body `*`, or one field's value), then path variables and query parameters on top. Text from the
  /// URL is read by the proto3 JSON mapping, so `status=DELIVERY_PAYLOAD_STATUS_IN_TRANSIT`,
  /// `page.page_size=20` and repeated `deliverer_ids=a&deliverer_ids=b` all work.
  ///
  /// - Throws: `RESTBindingError` naming the field when the body is not JSON, a field is unknown or has
  ///   the wrong type, a path variable is missing, or a query parameter is unknown or malformed.
  public func message<M: SwiftProtobuf.Message>(
    _ type: M.Type,
    spec: RESTRouteSpec
  ) throws(RESTBindingError) -> M {
    var message = try Self.decodeBody(M.self, body: body, spec: spec)

    var assignments: [Assignment] = []
    for field in spec.pathFields {
      guard let value = pathValues[field.name], !value.isEmpty else {
        throw RESTBindingError(field: field.name, reason: "the path variable is missing")
      }
      assignments.append(Assignment(field: field, literals: [try Self.literal(value, for: field)]))
    }
    assignments += try queryAssignments(spec: spec)
    guard !assignments.isEmpty else { return message }

    let parameters: M = try Self.decode(M.self, assignments: assignments)
    do {
      let bytes: [UInt8] = try parameters.serializedBytes()
      try message.merge(serializedBytes: bytes)
    } catch {
      throw RESTBindingError(field: "", reason: "the parameters could not be combined with the body: \(error)")
    }
    return message
  }

  // MARK: Body

  private static func decodeBody<M: SwiftProtobuf.Message>(
    _ type: M.Type,
    body: [UInt8],
    spec: RESTRouteSpec
  ) throws(RESTBindingError) -> M {
    let isBlank = body.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
    switch spec.http.body {
    case "":
      guard isBlank else { throw RESTBindingError(field: "", reason: "this route takes no request body") }
      return M()
    case "*":
      return isBlank ? M() : try decodeJSONObject(M.self, bytes: body, fieldPrefix: "")
    default:
      guard !isBlank else { return M() }
      let name = spec.bodyJSONName ?? spec.http.body
      let wrapped = Array("{\"\(name)\":".utf8) + body + Array("}".utf8)
      do {
        return try M(jsonUTF8Bytes: wrapped, options: decodingOptions)
      } catch {
        throw RESTBindingError(field: spec.http.body, reason: describe(error))
      }
    }
  }

  /// Decodes a JSON object into `M`; on failure finds the first top-level field at fault.
  private static func decodeJSONObject<M: SwiftProtobuf.Message>(
    _ type: M.Type,
    bytes: [UInt8],
    fieldPrefix: String
  ) throws(RESTBindingError) -> M {
    do {
      return try M(jsonUTF8Bytes: bytes, options: decodingOptions)
    } catch {
      let object: Any
      do {
        object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
      } catch {
        throw RESTBindingError(field: "", reason: "the request body is not valid JSON")
      }
      guard let fields = object as? [String: Any] else {
        throw RESTBindingError(field: "", reason: "the request body must be a JSON object")
      }
      for key in fields.keys.sorted() {
        guard let value = fields[key],
          let single = try? JSONSerialization.data(withJSONObject: [key: value], options: [.fragmentsAllowed])
        else { continue }
        do {
          _ = try M(jsonUTF8Bytes: single, options: decodingOptions)
        } catch let fieldError {
          if case SwiftProtobuf.JSONDecodingError.unknownField = fieldError {
            throw RESTBindingError(field: key, reason: "unknown field")
          }
          throw RESTBindingError(field: key, reason: describe(fieldError))
        }
      }
      throw RESTBindingError(field: "", reason: "the request body is not a valid message: \(describe(error))")
    }
  }

  // MARK: Path and query

  private struct Assignment {
    var field: RESTField
    var literals: [String]
  }

  private func queryAssignments(spec: RESTRouteSpec) throws(RESTBindingError) -> [Assignment] {
    guard !query.isEmpty else { return [] }
    var byName: [String: RESTField] = [:]
    for field in spec.queryFields {
      byName[field.name] = field
      byName[field.jsonPath.joined(separator: ".")] = field
    }
    var order: [String] = []
    var values: [String: [String]] = [:]
    for (name, value) in query {
      guard let field = byName[name] else {
        if spec.queryFields.isEmpty {
          throw RESTBindingError(field: name, reason: "unknown query parameter; this route takes none")
        }
        let known = spec.queryFields.map(\.name).joined(separator: ", ")
        throw RESTBindingError(field: name, reason: "unknown query parameter; this route takes \(known)")
      }
      if values[field.name] == nil { order.append(field.name) }
      values[field.name, default: []].append(value)
    }
    var result: [Assignment] = []
    for name in order {
      let field = byName[name]!
      let texts = values[name]!
      if !field.isRepeated && texts.count > 1 {
        throw RESTBindingError(field: name, reason: "given more than once, but it is not a repeated field")
      }
      var literals: [String] = []
      for text in texts {
        literals.append(try Self.literal(text, for: field))
      }
      result.append(Assignment(field: field, literals: literals))
    }
    return result
  }

  /// The proto3 JSON literal for a URL text value.
  private static func literal(_ text: String, for field: RESTField) throws(RESTBindingError) -> String {
    switch field.kind {
    case .string, .bytes:
      return quoted(text)
    case .bool:
      switch text {
      case "true", "false": return text
      default: throw RESTBindingError(field: field.name, reason: "'\(text)' is not a boolean; use true or false")
      }
    case .int32, .int64:
      guard isInteger(text) else {
        throw RESTBindingError(field: field.name, reason: "'\(text)' is not an integer")
      }
      return quoted(text)
    case .floatingPoint:
      guard ["NaN", "Infinity", "-Infinity"].contains(text) || (isNumber(text) && Double(text) != nil) else {
        throw RESTBindingError(field: field.name, reason: "'\(text)' is not a number")
      }
      return quoted(text)
    case .enumeration:
      return isInteger(text) ? text : quoted(text)
    }
  }

  private static func decode<M: SwiftProtobuf.Message>(
    _ type: M.Type,
    assignments: [Assignment]
  ) throws(RESTBindingError) -> M {
    do {
      return try M(jsonString: render(assignments), options: decodingOptions)
    } catch {
      for assignment in assignments {
        do {
          _ = try M(jsonString: render([assignment]), options: decodingOptions)
        } catch let fieldError {
          throw RESTBindingError(field: assignment.field.name, reason: describe(fieldError))
        }
      }
      throw RESTBindingError(field: "", reason: describe(error))
    }
  }

  /// Renders assignments as one nested JSON object, grouping dotted paths.
  private static func render(_ assignments: [Assignment]) -> String {
    render(assignments.map { (path: $0.field.jsonPath[...], assignment: $0) })
  }

  private static func render(_ items: [(path: ArraySlice<String>, assignment: Assignment)]) -> String {
    var keys: [String] = []
    var groups: [String: [(path: ArraySlice<String>, assignment: Assignment)]] = [:]
    for item in items {
      guard let head = item.path.first else { continue }
      if groups[head] == nil { keys.append(head) }
      groups[head, default: []].append((item.path.dropFirst(), item.assignment))
    }
    var parts: [String] = []
    for key in keys {
      let members = groups[key]!
      let value: String
      if members.count == 1, members[0].path.isEmpty {
        let assignment = members[0].assignment
        value = assignment.field.isRepeated
          ? "[" + assignment.literals.joined(separator: ",") + "]"
          : assignment.literals[0]
      } else {
        value = render(members.filter { !$0.path.isEmpty })
      }
      parts.append(quoted(key) + ":" + value)
    }
    return "{" + parts.joined(separator: ",") + "}"
  }

  // MARK: Helpers

  private static var decodingOptions: JSONDecodingOptions {
    var options = JSONDecodingOptions()
    options.ignoreUnknownFields = false
    return options
  }

  private static func isInteger(_ text: String) -> Bool {
    let digits = text.hasPrefix("-") ? text.dropFirst() : text[...]
    return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
  }

  private static func isNumber(_ text: String) -> Bool {
    !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }
  }

  static func quoted(_ text: String) -> String {
    JSONText.quoted(text)
  }

  /// A person's reading of a swift-protobuf JSON error.
  static func describe(_ error: any Error) -> String {
    guard let error = error as? SwiftProtobuf.JSONDecodingError else { return "\(error)" }
    switch error {
    case .malformedNumber: return "not a valid number"
    case .numberRange: return "the number is out of range"
    case .malformedBool: return "not a boolean"
    case .malformedString: return "not a valid string"
    case .invalidUTF8: return "not valid UTF-8"
    case .schemaMismatch: return "wrong JSON type for this field"
    case .unrecognizedEnumValue: return "not a value of the enum"
    case .illegalNull: return "null is not allowed here"
    case .leadingZero: return "a number may not have leading zeros"
    case .truncated: return "the JSON ends too early"
    case .malformedDuration: return "not a duration such as \"1.5s\""
    case .malformedTimestamp: return "not an RFC 3339 timestamp"
    case .malformedFieldMask: return "not a field mask"
    case .trailingGarbage: return "unexpected text after the JSON value"
    case .conflictingOneOf: return "sets more than one field of a oneof"
    case .messageDepthLimit: return "nested too deeply"
    case .unknownField(let name): return "unknown field '\(name)'"
    case .malformedMap, .unquotedMapKey: return "not a valid map"
    case .missingFieldNames: return "an object key is missing"
    case .failure: return "not valid JSON for this field"
    @unknown default: return "\(error)"
    }
  }
}
