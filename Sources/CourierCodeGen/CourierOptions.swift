/// Courier's custom options (`proto/courier/options/v1/options.proto`), decoded from the extension
/// bytes that protoc leaves in a descriptor's options. The field numbers here must match that file.
enum CourierOptionNumbers {
  static let http = 51001
  static let access = 51002
  static let event = 51011
  static let eventEnvelope = 51012
}

/// `courier.options.v1.HttpRule`.
struct HTTPRule: Equatable {
  enum Verb: String, Equatable {
    case get = "GET", put = "PUT", post = "POST", delete = "DELETE", patch = "PATCH"
  }
  var verb: Verb
  var pathTemplate: String
  var body: String

  static func decode(_ bytes: [UInt8]) throws(WireFormatError) -> HTTPRule? {
    var rule: HTTPRule?
    var body = ""
    for (number, value) in try WireReader.fields(of: bytes) {
      let verbs: [Int: Verb] = [1: .get, 2: .put, 3: .post, 4: .delete, 5: .patch]
      if let verb = verbs[number] {
        rule = HTTPRule(verb: verb, pathTemplate: try value.string(field: number), body: "")
      } else if number == 6 {
        body = try value.string(field: number)
      }
    }
    rule?.body = body
    return rule
  }
}

/// `courier.options.v1.AccessRule`.
struct AccessRule: Equatable {
  enum Level: Int, Equatable {
    case unspecified = 0, publicAccess = 1, authenticated = 2, role = 3
  }
  var level: Level
  var roles: [String]

  static func decode(_ bytes: [UInt8]) throws(WireFormatError) -> AccessRule {
    var rule = AccessRule(level: .unspecified, roles: [])
    for (number, value) in try WireReader.fields(of: bytes) {
      switch number {
      case 1: rule.level = Level(rawValue: value.int) ?? .unspecified
      case 2: rule.roles.append(try value.string(field: number))
      default: continue
      }
    }
    return rule
  }
}

/// `courier.options.v1.EventBinding`.
struct EventBindingOption: Equatable {
  var topic: String
  var keyField: String

  static func decode(_ bytes: [UInt8]) throws(WireFormatError) -> EventBindingOption {
    var binding = EventBindingOption(topic: "", keyField: "")
    for (number, value) in try WireReader.fields(of: bytes) {
      switch number {
      case 1: binding.topic = try value.string(field: number)
      case 2: binding.keyField = try value.string(field: number)
      default: continue
      }
    }
    return binding
  }
}

/// The Courier options found on one message's or method's options.
struct CourierOptions: Equatable {
  var http: HTTPRule?
  var access: AccessRule?
  var event: EventBindingOption?
  var isEventEnvelope = false

  /// Reads the options from the unknown-field bytes of a `MessageOptions` or `MethodOptions`. A
  /// repeated occurrence of a message-typed option merges, as protobuf does; here the last wins.
  init(unknownFields bytes: [UInt8]) throws(WireFormatError) {
    for (number, value) in try WireReader.fields(of: bytes) {
      switch (number, value) {
      case (CourierOptionNumbers.http, .lengthDelimited(let nested)):
        http = try HTTPRule.decode(nested)
      case (CourierOptionNumbers.access, .lengthDelimited(let nested)):
        access = try AccessRule.decode(nested)
      case (CourierOptionNumbers.event, .lengthDelimited(let nested)):
        event = try EventBindingOption.decode(nested)
      case (CourierOptionNumbers.eventEnvelope, _):
        isEventEnvelope = value.bool
      default:
        continue
      }
    }
  }
}
