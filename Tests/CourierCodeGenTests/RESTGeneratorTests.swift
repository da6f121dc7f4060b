import CourierCodeGen
import Foundation
import SwiftProtobuf
import SwiftProtobufPluginLibrary
import Testing

@Suite("protoc-gen-courier: REST routes and OpenAPI")
struct RESTGeneratorTests {
  typealias FieldType = Google_Protobuf_FieldDescriptorProto.TypeEnum

  /// One file `test/shop/v1/shop.proto` with a `ShopService` whose RPCs carry the given HTTP rules
  /// (verb field number 1-5, template, body) and access levels.
  static func request(
    rules: [(name: String, verb: Int, template: String, body: String, access: Int)],
    clientStreaming: Bool = false,
    serverStreaming: Bool = false,
    parameter: String = "Visibility=Public"
  ) -> Google_Protobuf_Compiler_CodeGeneratorRequest {
    var page = Google_Protobuf_DescriptorProto()
    page.name = "Page"
    page.field = [field("page_size", 1, .int32), field("page_token", 2, .string)]

    var item = Google_Protobuf_DescriptorProto()
    item.name = "Item"
    item.field = [
      field("item_id", 1, .string), field("count", 2, .int64), field("price", 3, .double),
      field("tags", 4, .string, repeated: true), field("kind", 5, .enum, typeName: ".test.shop.v1.Kind"),
      field("page", 6, .message, typeName: ".test.shop.v1.Page"), field("secret", 7, .bytes),
      field("active", 8, .bool),
    ]

    var kind = Google_Protobuf_EnumDescriptorProto()
    kind.name = "Kind"
    kind.value = [enumValue("KIND_UNSPECIFIED", 0), enumValue("KIND_BOOK", 1)]

    var service = Google_Protobuf_ServiceDescriptorProto()
    service.name = "ShopService"
    for rule in rules {
      var method = Google_Protobuf_MethodDescriptorProto()
      method.name = rule.name
      method.inputType = ".test.shop.v1.Item"
      method.outputType = ".test.shop.v1.Item"
      method.clientStreaming = clientStreaming
      method.serverStreaming = serverStreaming
      var http = OptionsDecodingTests.field(rule.verb, rule.template)
      if !rule.body.isEmpty { http += OptionsDecodingTests.field(6, rule.body) }
      let access = OptionsDecodingTests.varint(1 << 3) + OptionsDecodingTests.varint(UInt64(rule.access))
      method.options = try! Google_Protobuf_MethodOptions(
        serializedBytes: OptionsDecodingTests.field(51001, http) + OptionsDecodingTests.field(51002, access)
      )
      service.method.append(method)
    }

    var file = Google_Protobuf_FileDescriptorProto()
    file.name = "test/shop/v1/shop.proto"
    file.package = "test.shop.v1"
    file.syntax = "proto3"
    file.messageType = [page, item]
    file.enumType = [kind]
    file.service = [service]

    var request = Google_Protobuf_Compiler_CodeGeneratorRequest()
    request.fileToGenerate = [file.name]
    request.protoFile = [file]
    request.parameter = parameter
    return request
  }

  static func field(
    _ name: String, _ number: Int32, _ type: FieldType, repeated: Bool = false, typeName: String = ""
  ) -> Google_Protobuf_FieldDescriptorProto {
    var field = Google_Protobuf_FieldDescriptorProto()
    field.name = name
    field.jsonName = name.split(separator: "_").enumerated()
      .map { $0.offset == 0 ? String($0.element) : $0.element.prefix(1).uppercased() + $0.element.dropFirst() }
      .joined()
    field.number = number
    field.label = repeated ? .repeated : .optional
    field.type = type
    if !typeName.isEmpty { field.typeName = typeName }
    return field
  }

  static func enumValue(_ name: String, _ number: Int32) -> Google_Protobuf_EnumValueDescriptorProto {
    var value = Google_Protobuf_EnumValueDescriptorProto()
    value.name = name
    value.number = number
    return value
  }

  static let standard: [(name: String, verb: Int, template: String, body: String, access: Int)] = [
    ("GetItem", 1, "/items/{item_id}", "", 1),
    ("ListItems", 1, "/items", "", 2),
    ("PutItem", 2, "/items/{item_id}", "*", 3),
    ("SetPage", 5, "/items/{item_id}/page", "page", 2),
  ]

  static func source(_ request: Google_Protobuf_Compiler_CodeGeneratorRequest) throws -> String {
    let response = generateCode(request: request, generator: CourierGenerator())
    #expect(response.error.isEmpty, "\(response.error)")
    return try #require(response.file.first).content
  }

  /// The OpenAPI document embedded in the generated source, parsed.
  static func document(_ source: String) throws -> [String: Any] {
    let marker = "static let openAPIDocument: String = "
    let start = try #require(source.range(of: marker)).upperBound
    let line = source[start...].prefix { $0 != "\n" }
    // The Swift literal is a JSON string literal too (same escapes), so JSON can unquote it.
    let text = try #require(JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) as? String)
    return try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
  }

  @Test("a service with HTTP rules gets route specs and adapters that call its SimpleServiceProtocol")
  func routes() throws {
    let source = try Self.source(Self.request(rules: Self.standard))
    #expect(source.contains("internal import GRPCCore"))
    #expect(source.contains("public enum Test_Shop_V1_ShopService_REST {"))
    #expect(source.contains("public static let getItem = ContractRuntime.RESTRouteSpec("))
    #expect(source.contains("package static func routes("))
    #expect(source.contains("for service: some Test_Shop_V1_ShopService.SimpleServiceProtocol"))
    #expect(source.contains("let output = try await service.getItem(request: input, context: context)"))
    #expect(source.contains("descriptor: Test_Shop_V1_ShopService.Method.GetItem.descriptor,"))
    #expect(source.contains(#"ContractRuntime.RESTField(name: "item_id", jsonPath: ["itemId"], kind: .string, isRepeated: false)"#))
    #expect(source.contains("access: .anyone"))
    #expect(source.contains("access: .anyRole([])"))
  }

  @Test("query parameters are the remaining scalar fields, nested ones dotted")
  func queryFields() throws {
    let source = try Self.source(Self.request(rules: [("ListItems", 1, "/items", "", 2)]))
    for expected in [
      #"name: "item_id", jsonPath: ["itemId"], kind: .string, isRepeated: false"#,
      #"name: "count", jsonPath: ["count"], kind: .int64, isRepeated: false"#,
      #"name: "price", jsonPath: ["price"], kind: .floatingPoint, isRepeated: false"#,
      #"name: "tags", jsonPath: ["tags"], kind: .string, isRepeated: true"#,
      #"name: "kind", jsonPath: ["kind"], kind: .enumeration, isRepeated: false"#,
      #"name: "page.page_size", jsonPath: ["page", "pageSize"], kind: .int32, isRepeated: false"#,
      #"name: "page.page_token", jsonPath: ["page", "pageToken"], kind: .string, isRepeated: false"#,
      #"name: "active", jsonPath: ["active"], kind: .bool, isRepeated: false"#,
    ] {
      #expect(source.contains(expected), "missing \(expected)")
    }
    let withBodyField = try Self.source(Self.request(rules: [("SetPage", 5, "/items/{item_id}/page", "page", 2)]))
    #expect(!withBodyField.contains(#"name: "page.page_size""#), "the body field is not a query parameter")
    #expect(withBodyField.contains(#"bodyJSONName: "page""#))
  }

  @Test("a server-streaming RPC becomes an event stream")
  func streaming() throws {
    let source = try Self.source(Self.request(rules: [("WatchItems", 1, "/items/live", "", 2)], serverStreaming: true))
    #expect(source.contains("return .events(ContractRuntime.RESTEventSink.stream(limit: request.streamBufferLimit) { sink in"))
    #expect(source.contains("private struct _CourierRESTEventWriter<Element: SwiftProtobuf.Message>: GRPCCore.RPCWriterProtocol"))
    let document = try Self.document(source)
    let paths = document["paths"] as? [String: Any]
    let get = (paths?["/items/live"] as? [String: Any])?["get"] as? [String: Any]
    let content = ((get?["responses"] as? [String: Any])?["200"] as? [String: Any])?["content"] as? [String: Any]
    #expect(content?["text/event-stream"] != nil)
  }

  @Test("the OpenAPI document has paths, parameters, schemas in the proto3 JSON mapping, errors and auth")
  func openAPI() throws {
    let document = try Self.document(Self.source(Self.request(rules: Self.standard)))
    #expect(document["openapi"] as? String == "3.1.0")
    #expect((document["info"] as? [String: Any])?["title"] as? String == "test.shop.v1.ShopService")
    let paths = try #require(document["paths"] as? [String: Any])
    #expect(Set(paths.keys) == ["/items/{item_id}", "/items", "/items/{item_id}/page"])
    let itemPath = try #require(paths["/items/{item_id}"] as? [String: Any])
    #expect(Set(itemPath.keys) == ["get", "put"])
    let get = try #require(itemPath["get"] as? [String: Any])
    #expect((get["security"] as? [Any])?.isEmpty == true, "a public route needs no token")
    let parameters = try #require(get["parameters"] as? [[String: Any]])
    let pathParameter = try #require(parameters.first { $0["in"] as? String == "path" })
    #expect(pathParameter["name"] as? String == "item_id" && pathParameter["required"] as? Bool == true)
    #expect(parameters.contains { $0["name"] as? String == "page.page_size" && $0["in"] as? String == "query" })
    let put = try #require(itemPath["put"] as? [String: Any])
    #expect((put["security"] as? [[String: Any]])?.first?["bearerAuth"] != nil)
    let body = (((put["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
    let bodyProperties = try #require(body?["properties"] as? [String: Any])
    #expect(bodyProperties["itemId"] == nil, "a path-bound field is not in the body schema")
    #expect(bodyProperties["count"] != nil)
    let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
    let item = try #require((schemas["test.shop.v1.Item"] as? [String: Any])?["properties"] as? [String: Any])
    #expect((item["count"] as? [String: Any])?["type"] as? String == "string", "int64 is a JSON string")
    #expect((item["kind"] as? [String: Any])?["enum"] as? [String] == ["KIND_UNSPECIFIED", "KIND_BOOK"])
    #expect((item["tags"] as? [String: Any])?["type"] as? String == "array")
    #expect((item["page"] as? [String: Any])?["$ref"] as? String == "#/components/schemas/test.shop.v1.Page")
    #expect(schemas["Error"] != nil)
    let schemes = (document["components"] as? [String: Any])?["securitySchemes"] as? [String: Any]
    #expect((schemes?["bearerAuth"] as? [String: Any])?["scheme"] as? String == "bearer")
  }

  @Test("the index lists every service's OpenAPI document")
  func index() throws {
    let source = try Self.source(Self.request(rules: Self.standard, parameter: "Visibility=Public,Index=true"))
    #expect(source.contains(#""test.shop.v1.ShopService": Test_Shop_V1_ShopService_REST.openAPIDocument,"#))
  }

  @Test(
    "bad HTTP rules stop generation with a message that says what to fix",
    arguments: [
      ([("A", 1, "/items/{name=*}", "", 2)], false, "patterns such as {name=*} are not supported"),
      ([("A", 1, "/items/{nope}", "", 2)], false, "'nope' is not a field of test.shop.v1.Item"),
      ([("A", 1, "/items/{page}", "", 2)], false, "must name a singular scalar field"),
      ([("A", 1, "/items/{tags}", "", 2)], false, "must name a singular scalar field"),
      ([("A", 1, "items", "", 2)], false, "must start with '/'"),
      ([("A", 1, "/items//x", "", 2)], false, "has an empty segment"),
      ([("A", 1, "/items", "*", 2)], false, "must not declare a body"),
      ([("A", 3, "/items", "colour", 2)], false, "body 'colour' is not a field"),
      ([("A", 3, "/items", "*", 2)], true, "client-streaming RPC cannot have an HTTP rule"),
      ([("A", 1, "/items/{item_id}", "", 2), ("B", 1, "/items/{count}", "", 2)], false, "conflicts with"),
    ] as [([(name: String, verb: Int, template: String, body: String, access: Int)], Bool, String)]
  )
  func badRules(
    rules: [(name: String, verb: Int, template: String, body: String, access: Int)],
    clientStreaming: Bool,
    message: String
  ) {
    let response = generateCode(request: Self.request(rules: rules, clientStreaming: clientStreaming), generator: CourierGenerator())
    #expect(response.file.isEmpty)
    #expect(response.error.contains(message), "\(response.error)")
  }
}
