import Foundation
import SwiftProtobuf
import SwiftProtobufPluginLibrary

/// Emits, per service with HTTP rules, `<Service>_REST`: one `RESTRouteSpec` per REST RPC, the
/// service's OpenAPI document, and `routes(for:)`, the adapters that build the request message from
/// path, query and body, call the generated `SimpleServiceProtocol`, and encode the answer as proto3
/// JSON (a server stream becomes an event stream).
struct RESTEmitter {
  let file: FileDescriptor
  let namer: SwiftProtobufNamer
  let visibility: String

  /// The routes' visibility: the gRPC service protocols are generated with package visibility.
  private var adapterVisibility: String { visibility == "internal" ? "internal" : "package" }

  /// The REST models of every service in the file that has at least one HTTP rule.
  func services() throws(GenerationError) -> [(service: ServiceDescriptor, routes: [RESTBindingModel])] {
    var result: [(ServiceDescriptor, [RESTBindingModel])] = []
    for service in file.services {
      var routes: [RESTBindingModel] = []
      for method in service.methods {
        let options: CourierOptions
        do {
          options = try CourierOptions(unknownFields: Array(method.options.unknownFields.data))
        } catch {
          throw .badOption(element: "\(service.fullName).\(method.name)", reason: "its options could not be read: \(error)")
        }
        if let rule = options.http {
          routes.append(try RESTBindingModel(method: method, rule: rule))
        }
      }
      try Self.checkConflicts(routes)
      if !routes.isEmpty { result.append((service, routes)) }
    }
    return result
  }

  /// The name of a service's REST enum: `Courier_Hermes_V1_TrackingService_REST`.
  func typeName(of service: ServiceDescriptor) -> String {
    namer.typePrefix(forFile: file) + service.name + "_REST"
  }

  func emit(into out: inout SourceWriter) throws(GenerationError) {
    let services = try services()
    guard !services.isEmpty else { return }
    var needsWriter = false
    for (service, routes) in services {
      let serviceType = namer.typePrefix(forFile: file) + service.name
      let accessRules = try routes.map { route throws(GenerationError) in try accessExpression(for: route.method) }
      out.line("")
      out.line("/// The REST surface of `\(service.fullName)`, generated from its HTTP rules.")
      out.line("@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)")
      out.line("\(visibility) enum \(typeName(of: service)) {")
      for (route, access) in zip(routes, accessRules) {
        emitSpec(route, access: access, into: &out)
      }
      out.line("")
      out.line("  /// Every route of the service, in proto order.")
      out.line("  \(visibility) static let specs: [ContractRuntime.RESTRouteSpec] = [")
      for route in routes {
        out.line("    \(specName(route)),")
      }
      out.line("  ]")
      out.line("")
      let document = OpenAPIEmitter(file: file, service: service, routes: routes).document()
      out.line("  /// The service's OpenAPI 3.1 document (JSON).")
      out.line("  \(visibility) static let openAPIDocument: String = \(literal(document))")
      out.line("")
      out.line("  /// The routes, each calling `service`.")
      out.line("  \(adapterVisibility) static func routes(")
      out.line("    for service: some \(serviceType).SimpleServiceProtocol")
      out.line("  ) -> [ContractRuntime.RESTRoute] {")
      out.line("    [")
      for route in routes {
        needsWriter = needsWriter || route.method.serverStreaming
        emitAdapter(route, serviceType: serviceType, into: &out)
      }
      out.line("    ]")
      out.line("  }")
      out.line("}")
    }
    if needsWriter {
      out.line("")
      out.line("/// Feeds a server stream's messages to the REST event stream.")
      out.line("@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)")
      out.line("private struct _CourierRESTEventWriter<Element: SwiftProtobuf.Message>: GRPCCore.RPCWriterProtocol {")
      out.line("  let sink: ContractRuntime.RESTEventSink")
      out.line("")
      out.line("  func write(_ element: Element) async throws {")
      out.line("    try sink.write(element)")
      out.line("  }")
      out.line("")
      out.line("  func write(contentsOf elements: some Sequence<Element>) async throws {")
      out.line("    for element in elements { try sink.write(element) }")
      out.line("  }")
      out.line("}")
    }
  }

  private func specName(_ route: RESTBindingModel) -> String {
    FileEmitter.caseName(for: route.method.name)
  }

  private func emitSpec(_ route: RESTBindingModel, access: String, into out: inout SourceWriter) {
    out.line("")
    out.line("  /// `\(route.rule.verb.rawValue) \(route.rule.pathTemplate)` -> `\(route.method.name)`.")
    out.line("  \(visibility) static let \(specName(route)) = ContractRuntime.RESTRouteSpec(")
    out.line("    service: \(literal(route.method.service.fullName)),")
    out.line("    method: \(literal(route.method.name)),")
    out.line("    http: ContractRuntime.HTTPBinding(")
    out.line("      verb: .\(route.rule.verb.rawValue.lowercased()),")
    out.line("      pathTemplate: \(literal(route.rule.pathTemplate)),")
    out.line("      body: \(literal(route.rule.body))")
    out.line("    ),")
    out.line("    access: \(access),")
    out.line("    serverStreaming: \(route.method.serverStreaming),")
    emitFields("pathFields", route.pathFields, into: &out)
    emitFields("queryFields", route.queryFields, into: &out)
    if let body = route.bodyField {
      out.line("    bodyJSONName: \(literal(body.jsonName ?? body.name))")
    } else {
      out.line("    bodyJSONName: nil")
    }
    out.line("  )")
  }

  private func emitFields(_ label: String, _ fields: [RESTBindingModel.BoundField], into out: inout SourceWriter) {
    guard !fields.isEmpty else {
      out.line("    \(label): [],")
      return
    }
    out.line("    \(label): [")
    for field in fields {
      let jsonPath = field.jsonPath.map(literal).joined(separator: ", ")
      out.line(
        "      ContractRuntime.RESTField(name: \(literal(field.name)), jsonPath: [\(jsonPath)], kind: .\(field.kind), isRepeated: \(field.isRepeated)),"
      )
    }
    out.line("    ],")
  }

  private func emitAdapter(_ route: RESTBindingModel, serviceType: String, into out: inout SourceWriter) {
    let method = route.method
    let spec = specName(route)
    let input = namer.fullName(message: method.inputType)
    let output = namer.fullName(message: method.outputType)
    let function = FileEmitter.caseName(for: method.name).trimmingCharacters(in: ["`"])
    out.line("      ContractRuntime.RESTRoute(spec: \(spec)) { request in")
    out.line("        let input = try request.message(\(input).self, spec: \(spec))")
    out.line("        let context = GRPCCore.ServerContext(")
    out.line("          descriptor: \(serviceType).Method.\(method.name).descriptor,")
    out.line("          remotePeer: request.remotePeer,")
    out.line("          localPeer: request.localPeer,")
    out.line("          cancellation: GRPCCore.ServerContext.RPCCancellationHandle()")
    out.line("        )")
    if method.serverStreaming {
      out.line("        return .events(ContractRuntime.RESTEventSink.stream(limit: request.streamBufferLimit) { sink in")
      out.line("          try await service.\(function)(")
      out.line("            request: input,")
      out.line("            response: GRPCCore.RPCWriter(wrapping: _CourierRESTEventWriter<\(output)>(sink: sink)),")
      out.line("            context: context")
      out.line("          )")
      out.line("        })")
    } else {
      out.line("        let output = try await service.\(function)(request: input, context: context)")
      out.line("        return .message(try output.jsonUTF8Bytes())")
    }
    out.line("      },")
  }

  private func accessExpression(for method: MethodDescriptor) throws(GenerationError) -> String {
    let options: CourierOptions
    do {
      options = try CourierOptions(unknownFields: Array(method.options.unknownFields.data))
    } catch {
      throw .badOption(element: "\(method.service.fullName).\(method.name)", reason: "its options could not be read: \(error)")
    }
    guard let rule = options.access else { return ".authenticated" }
    switch rule.level {
    case .publicAccess: return ".anyone"
    case .unspecified, .authenticated: return ".authenticated"
    case .role: return ".anyRole([\(rule.roles.map(literal).joined(separator: ", "))])"
    }
  }

  /// Two routes of one service conflict when they have the same verb and the same shape: the same
  /// literals at the same places and variables everywhere else.
  static func checkConflicts(_ routes: [RESTBindingModel]) throws(GenerationError) {
    for (index, first) in routes.enumerated() {
      for second in routes[(index + 1)...] where first.rule.verb == second.rule.verb {
        guard first.segments.count == second.segments.count else { continue }
        let same = zip(first.segments, second.segments).allSatisfy { pair in
          switch pair {
          case (.literal(let a), .literal(let b)): return a == b
          case (.variable, .variable): return true
          default: return false
          }
        }
        if same {
          throw .badOption(
            element: second.element,
            reason: "\(second.rule.verb.rawValue) \(second.rule.pathTemplate) conflicts with \(first.element)'s \(first.rule.pathTemplate)"
          )
        }
      }
    }
  }

  private func literal(_ value: String) -> String {
    FileEmitter.swiftLiteral(value)
  }
}
