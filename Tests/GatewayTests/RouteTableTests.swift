import ContractRuntime
import Gateway
import Testing

@Suite("route matching")
struct RouteTableTests {
  static func route(_ verb: HTTPBinding.Verb, _ template: String, _ name: String = "M") -> RESTRoute {
    let spec = RESTRouteSpec(
      service: "test.v1.S", method: name, http: HTTPBinding(verb: verb, pathTemplate: template, body: ""),
      access: .anyone, serverStreaming: false, pathFields: [], queryFields: [], bodyJSONName: nil
    )
    return RESTRoute(spec: spec) { _ in .message([]) }
  }

  static let table = try! RouteTable(routes: [
    route(.get, "/tracking/payload", "List"),
    route(.post, "/tracking/payload/{code}", "Create"),
    route(.delete, "/tracking/payload/{code}", "Remove"),
    route(.get, "/tracking/payload/live", "Watch"),
    route(.get, "/tracking/payload/{code}/receipt", "Receipt"),
    route(.get, "/things/{thing.id}/parts/{part}", "Part"),
  ])

  static func matched(_ method: String, _ path: String) -> (String, [String: String])? {
    if case .route(let route, let values) = table.match(method: method, path: path) {
      return (route.spec.method, values)
    }
    return nil
  }

  @Test("a literal segment beats a variable, whatever the order of declaration")
  func literalWins() {
    #expect(Self.matched("GET", "/tracking/payload/live")?.0 == "Watch")
    #expect(Self.matched("GET", "/tracking/payload/ABC/receipt")?.1 == ["code": "ABC"])
    let reversed = try! RouteTable(routes: [Self.route(.get, "/a/{x}", "Var"), Self.route(.get, "/a/b", "Lit")])
    guard case .route(let route, _) = reversed.match(method: "GET", path: "/a/b") else {
      Issue.record("no match")
      return
    }
    #expect(route.spec.method == "Lit")
  }

  @Test("one trailing slash is ignored")
  func trailingSlash() {
    #expect(Self.matched("GET", "/tracking/payload/")?.0 == "List")
    #expect(Self.matched("GET", "/tracking/payload/ABC/receipt/")?.1 == ["code": "ABC"])
    guard case .notFound = Self.table.match(method: "GET", path: "/tracking//payload") else {
      Issue.record("an empty inner segment must not match")
      return
    }
  }

  @Test("variables are percent-decoded after splitting, so %2F stays inside one variable")
  func percentEncoding() {
    #expect(Self.matched("POST", "/tracking/payload/a%2Fb")?.1 == ["code": "a/b"])
    #expect(Self.matched("POST", "/tracking/payload/caf%C3%A9")?.1 == ["code": "café"])
    #expect(Self.matched("POST", "/tracking/payload/a+b")?.1 == ["code": "a+b"])
    #expect(Self.matched("GET", "/tracking/%70ayload")?.0 == "List", "literals compare decoded")
    for bad in ["/tracking/payload/%zz", "/tracking/payload/%4", "/tracking/payload/%FF"] {
      guard case .malformedPath = Self.table.match(method: "POST", path: bad) else {
        Issue.record("\(bad) should be malformed")
        continue
      }
    }
  }

  @Test("nested variables bind by their dotted field path")
  func nestedVariables() {
    #expect(Self.matched("GET", "/things/7/parts/wheel")?.1 == ["thing.id": "7", "part": "wheel"])
  }

  @Test("an empty or absent variable names the field")
  func missingVariable() {
    for path in ["/tracking/payload/", "/tracking/payload"] {
      guard case .missingVariable(let field) = Self.table.match(method: "POST", path: path) else {
        Issue.record("POST \(path) should report a missing variable")
        continue
      }
      #expect(field == "code")
    }
    guard case .missingVariable(let field) = Self.table.match(method: "GET", path: "/things//parts/x") else {
      Issue.record("missing inner variable")
      return
    }
    #expect(field == "thing.id")
  }

  @Test("a path served for other verbs answers 405 with the allowed ones")
  func methodNotAllowed() {
    guard case .methodNotAllowed(let allowed) = Self.table.match(method: "PUT", path: "/tracking/payload/ABC") else {
      Issue.record("expected 405")
      return
    }
    #expect(allowed == ["DELETE", "POST"])
    guard case .notFound = Self.table.match(method: "GET", path: "/nowhere") else {
      Issue.record("expected 404")
      return
    }
    guard case .malformedPath = Self.table.match(method: "GET", path: "nowhere") else {
      Issue.record("a relative path is malformed")
      return
    }
  }

  @Test("two routes with the same verb and shape are refused")
  func conflicts() {
    #expect(throws: GatewaySetupError.self) {
      try RouteTable(routes: [Self.route(.get, "/a/{x}", "One"), Self.route(.get, "/a/{y}", "Two")])
    }
    #expect(throws: GatewaySetupError.self) {
      try RouteTable(routes: [Self.route(.get, "/a/b", "One"), Self.route(.get, "/a/b", "Two")])
    }
    #expect(throws: GatewaySetupError.self) {
      try RouteTable(routes: [Self.route(.get, "/a/{x", "One")])
    }
    // Same shape, other verb; or a literal beside a variable: no conflict.
    #expect(throws: Never.self) {
      try RouteTable(routes: [Self.route(.get, "/a/{x}"), Self.route(.put, "/a/{x}"), Self.route(.get, "/a/b")])
    }
  }
}
