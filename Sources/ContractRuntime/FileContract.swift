public import SwiftProtobuf

/// What one `.proto` file declares, as generated code sees it: its messages, its RPCs with their
/// REST mappings and access rules, and its events. protoc-gen-courier emits one per file and an index
/// of all of them (`CourierContracts.files`), so that tests, the REST gateway and tools can walk the
/// contracts without a hand-kept list.
public struct FileContract: Sendable {
  /// The file's path under `proto/`: `courier/hermes/v1/hermes.proto`.
  public let protoFile: String
  /// The protobuf package: `courier.hermes.v1`.
  public let protoPackage: String
  /// Every message the file declares (nested ones too, map entries left out).
  public let messageTypes: [any SwiftProtobuf.Message.Type]
  /// Every RPC of every service in the file.
  public let methods: [MethodContract]
  /// Every event message in the file.
  public let eventTypes: [any CourierEvent.Type]

  public init(
    protoFile: String,
    protoPackage: String,
    messageTypes: [any SwiftProtobuf.Message.Type],
    methods: [MethodContract],
    eventTypes: [any CourierEvent.Type]
  ) {
    self.protoFile = protoFile
    self.protoPackage = protoPackage
    self.messageTypes = messageTypes
    self.methods = methods
    self.eventTypes = eventTypes
  }
}

/// One RPC of the contracts.
public struct MethodContract: Sendable {
  /// The service's full name: `courier.hermes.v1.TrackingService`.
  public let service: String
  /// The RPC's name: `CreatePayloadSubscription`.
  public let name: String
  public let inputType: any SwiftProtobuf.Message.Type
  public let outputType: any SwiftProtobuf.Message.Type
  public let clientStreaming: Bool
  public let serverStreaming: Bool
  /// The REST mapping, for RPCs that have one.
  public let http: HTTPBinding?
  /// Who may call the RPC's REST route.
  public let access: AccessRequirement

  public init(
    service: String,
    name: String,
    inputType: any SwiftProtobuf.Message.Type,
    outputType: any SwiftProtobuf.Message.Type,
    clientStreaming: Bool,
    serverStreaming: Bool,
    http: HTTPBinding?,
    access: AccessRequirement
  ) {
    self.service = service
    self.name = name
    self.inputType = inputType
    self.outputType = outputType
    self.clientStreaming = clientStreaming
    self.serverStreaming = serverStreaming
    self.http = http
    self.access = access
  }

  /// The gRPC path: `/courier.hermes.v1.TrackingService/CreatePayloadSubscription`.
  public var path: String { "/\(service)/\(name)" }
}

/// An RPC's REST mapping, from `(courier.options.v1.http)`.
public struct HTTPBinding: Sendable, Hashable {
  public enum Verb: String, Sendable, Hashable {
    case get = "GET", put = "PUT", post = "POST", delete = "DELETE", patch = "PATCH"
  }
  public let verb: Verb
  /// The path template, with `{field}` variables.
  public let pathTemplate: String
  /// Empty for no body, `*` for every field not bound by the path, or one top-level field's name.
  public let body: String

  public init(verb: Verb, pathTemplate: String, body: String) {
    self.verb = verb
    self.pathTemplate = pathTemplate
    self.body = body
  }
}

/// Who may call a REST route, from `(courier.options.v1.access)`.
public enum AccessRequirement: Sendable, Hashable {
  /// Anyone, without a token.
  case anyone
  /// Any caller with a valid access token. Also the rule when none is declared.
  case authenticated
  /// A caller with a valid access token and at least one of these roles.
  case anyRole(Set<String>)
}
