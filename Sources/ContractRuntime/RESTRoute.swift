/// One REST route generated from an RPC's `(courier.options.v1.http)` rule: what the gateway matches
/// (`spec`) and the adapter that turns a matched request into a call of the generated service protocol
/// (`handler`). protoc-gen-courier emits one per REST RPC; the gateway mounts them. Services never
/// write routes.
public struct RESTRoute: Sendable {
  public let spec: RESTRouteSpec
  public let handler: RESTHandler

  public init(spec: RESTRouteSpec, handler: @escaping RESTHandler) {
    self.spec = spec
    self.handler = handler
  }
}

/// Runs one matched request: builds the request message, calls the service, encodes the answer.
/// Errors thrown are `RESTBindingError` for bad input, or whatever the service threw (usually
/// GRPCCore's `RPCError`); the gateway maps both to HTTP.
public typealias RESTHandler = @Sendable (RESTRequest) async throws -> RESTReply

/// The static description of a REST route, as declared in the proto.
public struct RESTRouteSpec: Sendable {
  /// The service's full name: `courier.hermes.v1.TrackingService`.
  public let service: String
  /// The RPC's name: `CreatePayloadSubscription`.
  public let method: String
  /// The verb, the path template and the body selector.
  public let http: HTTPBinding
  /// Who may call it.
  public let access: AccessRequirement
  /// True when the RPC streams its responses: the route answers with Server-Sent Events.
  public let serverStreaming: Bool
  /// The request fields bound by path variables, in template order.
  public let pathFields: [RESTField]
  /// The request fields a query parameter may set (neither path- nor body-bound scalars).
  public let queryFields: [RESTField]
  /// With a body selector naming one field: that field's JSON name.
  public let bodyJSONName: String?

  public init(
    service: String,
    method: String,
    http: HTTPBinding,
    access: AccessRequirement,
    serverStreaming: Bool,
    pathFields: [RESTField],
    queryFields: [RESTField],
    bodyJSONName: String?
  ) {
    self.service = service
    self.method = method
    self.http = http
    self.access = access
    self.serverStreaming = serverStreaming
    self.pathFields = pathFields
    self.queryFields = queryFields
    self.bodyJSONName = bodyJSONName
  }
}

/// A request field that a path variable or a query parameter sets.
public struct RESTField: Sendable, Hashable {
  /// How a text value from a URL becomes a proto3 JSON value.
  public enum Kind: Sendable, Hashable {
    /// `string`, and well-known types whose JSON form is a string (Timestamp, Duration, FieldMask).
    case string
    /// `bytes`: base64 text.
    case bytes
    /// `bool`: `true` or `false`.
    case bool
    /// 32-bit integers.
    case int32
    /// 64-bit integers.
    case int64
    /// `float` and `double`, including `NaN`, `Infinity` and `-Infinity`.
    case floatingPoint
    /// An enum: a value name (`DELIVERY_PAYLOAD_STATUS_IN_TRANSIT`) or its number.
    case enumeration
  }

  /// The dotted proto field path, as written in the URL: `page.page_size`.
  public let name: String
  /// The same path in JSON names: `["page", "pageSize"]`.
  public let jsonPath: [String]
  public let kind: Kind
  /// A repeated field: the parameter may be given several times.
  public let isRepeated: Bool

  public init(name: String, jsonPath: [String], kind: Kind, isRepeated: Bool) {
    self.name = name
    self.jsonPath = jsonPath
    self.kind = kind
    self.isRepeated = isRepeated
  }
}

/// A request the gateway matched to a route, reduced to what the adapter needs.
public struct RESTRequest: Sendable {
  /// Path variable values by field path (`payload_tracking_code`), percent-decoded.
  public var pathValues: [String: String]
  /// Query parameters in order, percent-decoded.
  public var query: [(name: String, value: String)]
  /// The raw request body.
  public var body: [UInt8]
  /// The caller's address, for the service's `ServerContext`.
  public var remotePeer: String
  /// The gateway's address.
  public var localPeer: String
  /// For server streams: how many messages may wait for a slow client before the stream fails
  /// with `RESTStreamOverflowError`.
  public var streamBufferLimit: Int

  public init(
    pathValues: [String: String] = [:],
    query: [(name: String, value: String)] = [],
    body: [UInt8] = [],
    remotePeer: String = "",
    localPeer: String = "",
    streamBufferLimit: Int = 1_000
  ) {
    self.pathValues = pathValues
    self.query = query
    self.body = body
    self.remotePeer = remotePeer
    self.localPeer = localPeer
    self.streamBufferLimit = streamBufferLimit
  }
}

/// What an adapter answers.
public enum RESTReply: Sendable {
  /// One response message, as proto3 JSON.
  case message([UInt8])
  /// A server stream: one proto3 JSON object per message. The stream ends with the RPC; an error it
  /// throws is the RPC's error.
  case events(AsyncThrowingStream<[UInt8], any Error>)
}
