import ContractRuntime
import Foundation
import Gateway
import GatewaySample
import GRPCCore
import Testing

@Suite("gateway core: auth, errors, built-ins, request ids")
struct GatewayCoreTests {
  static func core() throws -> GatewayCore {
    try SampleGateway.core()
  }

  static func object(_ response: GatewayResponse) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(response.bytes))) as? [String: Any] ?? [:]
  }

  static func call(
    _ core: GatewayCore,
    _ method: String,
    _ target: String,
    token: String? = "user-token",
    body: String? = nil,
    headers: [(name: String, value: String)] = []
  ) async -> GatewayResponse {
    var all = headers
    if let token { all.append(("Authorization", "Bearer \(token)")) }
    if body != nil { all.append(("Content-Type", "application/json")) }
    return await core.respond(to: GatewayRequest(method: method, target: target, headers: all, body: Array((body ?? "").utf8)))
  }

  @Test(
    "auth: missing, malformed and rejected tokens are 401, a wrong role is 403",
    arguments: [
      (nil, [], 401, "UNAUTHENTICATED"),
      (nil, [("Authorization", "Basic dXNlcjpwYXNz")], 401, "UNAUTHENTICATED"),
      (nil, [("Authorization", "Bearer")], 401, "UNAUTHENTICATED"),
      (nil, [("Authorization", "Bearer a b")], 401, "UNAUTHENTICATED"),
      ("not-a-token", [], 401, "UNAUTHENTICATED"),
      ("user-token", [], 403, "PERMISSION_DENIED"),
      ("deliverer-token", [], 403, "PERMISSION_DENIED"),
      ("admin-token", [], 200, ""),
    ] as [(String?, [(name: String, value: String)], Int, String)]
  )
  func auth(token: String?, headers: [(name: String, value: String)], status: Int, code: String) async throws {
    let response = await Self.call(try Self.core(), "GET", "/tracking/admin/payloads", token: token, headers: headers)
    #expect(response.status == status)
    if !code.isEmpty {
      #expect(Self.object(response)["code"] as? String == code)
      #expect(Self.object(response)["details"] is [Any])
    }
    if status == 401 { #expect(response.header("www-authenticate") == "Bearer") }
  }

  @Test("an authenticator that cannot answer makes the call 503, not 401")
  func authenticatorDown() async throws {
    struct Down: Authenticator {
      func authenticate(bearerToken: String) async throws -> Caller? { throw CancellationError() }
    }
    let core = try SampleGateway.core(authenticator: Down())
    let response = await Self.call(core, "GET", "/tracking/payload")
    #expect(response.status == 503)
    #expect(Self.object(response)["code"] as? String == "UNAVAILABLE")
  }

  @Test("service errors map through the gRPC -> HTTP table")
  func serviceErrors() async throws {
    let core = try Self.core()
    let notFound = await Self.call(core, "POST", "/tracking/payload/ZZZZZZZZZZZZ", body: #"{"title":"x"}"#)
    #expect(notFound.status == 404)
    #expect(Self.object(notFound)["code"] as? String == "NOT_FOUND")
    let invalid = await Self.call(core, "POST", "/tracking/payload/short", body: #"{"title":"x"}"#)
    #expect(invalid.status == 400)
    let precondition = await Self.call(core, "POST", "/tracking/payload/\(SampleStore.deliveredCode)", body: #"{"title":"x"}"#)
    #expect(precondition.status == 400)
    #expect(Self.object(precondition)["code"] as? String == "FAILED_PRECONDITION")
    let duplicate = await Self.call(
      core, "POST", "/tracking/admin/deliverers", token: "admin-token",
      body: #"{"userId":"0b4a7c1d-8e2f-4a3b-9c5d-6e7f8a9b0c1d","displayName":"Again"}"#
    )
    #expect(duplicate.status == 409)
    #expect(Self.object(duplicate)["code"] as? String == "ALREADY_EXISTS")
  }

  @Test(
    "the status table",
    arguments: [
      ("CANCELLED", 499), ("UNKNOWN", 500), ("INVALID_ARGUMENT", 400), ("DEADLINE_EXCEEDED", 504),
      ("NOT_FOUND", 404), ("ALREADY_EXISTS", 409), ("PERMISSION_DENIED", 403), ("RESOURCE_EXHAUSTED", 429),
      ("FAILED_PRECONDITION", 400), ("ABORTED", 409), ("OUT_OF_RANGE", 400), ("UNIMPLEMENTED", 501),
      ("INTERNAL", 500), ("UNAVAILABLE", 503), ("DATA_LOSS", 500), ("UNAUTHENTICATED", 401),
    ]
  )
  func statusTable(code: String, status: Int) {
    #expect(ErrorBody.httpStatus(forCode: code) == status)
  }

  @Test("RPCError codes keep their names; unknown errors become INTERNAL without leaking text")
  func errorBodies() {
    let rpc = ErrorBody.from(RPCError(code: .resourceExhausted, message: "slow down"), requestID: "r")
    #expect(rpc.code == "RESOURCE_EXHAUSTED" && rpc.status == 429 && rpc.message == "slow down")
    struct Secret: Error {}
    let other = ErrorBody.from(Secret(), requestID: "req-9")
    #expect(other.code == "INTERNAL" && other.status == 500 && other.message.contains("req-9"))
    let body = String(decoding: ErrorBody(code: "NOT_FOUND", message: "say \"hi\"\n").json, as: UTF8.self)
    #expect(body == #"{"code":"NOT_FOUND","message":"say \"hi\"\n","details":[]}"#)
  }

  @Test("request ids are echoed when sane and made otherwise")
  func requestIDs() async throws {
    let core = try Self.core()
    let echoed = await Self.call(core, "GET", "/healthz", headers: [("X-Request-Id", "abc-123")])
    #expect(echoed.header("x-request-id") == "abc-123")
    let made = await Self.call(core, "GET", "/healthz", headers: [("X-Request-Id", "has space")])
    #expect(made.header("x-request-id") != "has space")
    #expect(UUID(uuidString: made.header("x-request-id") ?? "") != nil)
    let error = await Self.call(core, "GET", "/nowhere")
    #expect(error.status == 404 && error.header("x-request-id") != nil)
  }

  @Test("healthz, readyz and openapi.json")
  func builtIns() async throws {
    let core = try Self.core()
    #expect(await Self.call(core, "GET", "/healthz", token: nil).status == 200)
    #expect(await Self.call(core, "GET", "/readyz", token: nil).status == 200)
    let notReady = try GatewayCore(
      routes: [], openAPIDocuments: ["{}"], authenticator: StaticTokenAuthenticator([:]), readiness: { false }
    )
    #expect(await Self.call(notReady, "GET", "/readyz", token: nil).status == 503)
    let document = Self.object(await Self.call(core, "GET", "/openapi.json", token: nil))
    #expect(document["openapi"] as? String == "3.1.0")
    let paths = document["paths"] as? [String: Any] ?? [:]
    #expect(paths["/tracking/payload/{payload_tracking_code}"] != nil)
    #expect(paths["/tracking/admin/payloads"] != nil)
  }

  @Test("device endpoints take every method on their exact path, without a token, within the body limit")
  func deviceEndpoints() async throws {
    var configuration = GatewayConfiguration.defaults
    configuration.maxBodySize = 64
    let core = try GatewayCore(
      routes: [], openAPIDocuments: ["{}"], authenticator: StaticTokenAuthenticator([:]), configuration: configuration,
      deviceEndpoints: [
        "/devices/report": { request in
          let caller = CallContext.current?.caller == nil ? "nobody" : "someone"
          let text = "\(request.method) \(request.target) \(request.body.count) \(caller) \(CallContext.current?.requestID ?? "-")"
          return GatewayResponse(status: 200, headers: [("Content-Type", "text/plain")], body: .bytes(Array(text.utf8)))
        }
      ]
    )
    let get = await Self.call(core, "GET", "/devices/report?id=secret", token: nil, headers: [("X-Request-Id", "req-1")])
    #expect(String(decoding: get.bytes, as: UTF8.self) == "GET /devices/report?id=secret 0 nobody req-1")
    #expect(get.header("x-request-id") == "req-1")
    let post = await Self.call(core, "POST", "/devices/report", token: "ignored", body: "{}")
    #expect(post.status == 200 && String(decoding: post.bytes, as: UTF8.self).hasPrefix("POST /devices/report 2 nobody"))
    #expect(await Self.call(core, "PUT", "/devices/report", token: nil).status == 200)
    let large = await Self.call(core, "POST", "/devices/report", token: nil, body: String(repeating: "x", count: 65))
    #expect(large.status == 413)
    #expect(await Self.call(core, "GET", "/devices/report/more", token: nil).status == 404)
  }

  @Test("extra endpoints answer GET on their exact path, without a token; built-ins win")
  func extraEndpoints() async throws {
    let core = try GatewayCore(
      routes: [], openAPIDocuments: ["{}"], authenticator: StaticTokenAuthenticator([:]),
      endpoints: [
        "/metrics": { request in
          GatewayResponse(status: 200, headers: [("Content-Type", "text/plain")], body: .bytes(Array("seen \(request.target)".utf8)))
        },
        "/healthz": { _ in GatewayResponse(status: 500, headers: [], body: .bytes([])) },
      ]
    )
    let metrics = await Self.call(core, "GET", "/metrics?x=1", token: nil)
    #expect(metrics.status == 200)
    #expect(String(decoding: metrics.bytes, as: UTF8.self) == "seen /metrics?x=1")
    #expect(metrics.header("x-request-id") != nil)
    #expect(await Self.call(core, "POST", "/metrics", token: nil).status == 404)
    #expect(await Self.call(core, "GET", "/metrics/more", token: nil).status == 404)
    #expect(await Self.call(core, "GET", "/healthz", token: nil).status == 200)
  }

  @Test("bodies over the limit get 413; non-JSON bodies get 415")
  func bodyLimits() async throws {
    var configuration = GatewayConfiguration.defaults
    configuration.maxBodySize = 64
    let core = try SampleGateway.core(configuration: configuration)
    let big = "{\"title\":\"" + String(repeating: "x", count: 100) + "\"}"
    let response = await Self.call(core, "POST", "/tracking/payload/\(SampleStore.registeredCode)", body: big)
    #expect(response.status == 413)
    let form = await core.respond(
      to: GatewayRequest(
        method: "POST", target: "/tracking/payload/\(SampleStore.registeredCode)",
        headers: [("Authorization", "Bearer user-token"), ("Content-Type", "text/xml")], body: Array("<a/>".utf8)
      )
    )
    #expect(form.status == 415)
  }

  @Test("malformed query strings and paths are 400")
  func malformedURLs() async throws {
    let core = try Self.core()
    #expect(await Self.call(core, "GET", "/tracking/payload?x=%zz").status == 400)
    #expect(await Self.call(core, "POST", "/tracking/payload/%C3", body: "{}").status == 400)
    let unknown = await Self.call(core, "GET", "/tracking/payload?colour=red")
    #expect(unknown.status == 400)
    #expect((Self.object(unknown)["message"] as? String)?.contains("colour") == true)
  }

  @Test("paging through the generated route with page.page_size and page.page_token")
  func paging() async throws {
    let core = try Self.core()
    let first = Self.object(await Self.call(core, "GET", "/tracking/admin/payloads?page.page_size=2", token: "admin-token"))
    #expect((first["payloads"] as? [Any])?.count == 2)
    let token = (first["pageInfo"] as? [String: Any])?["nextPageToken"] as? String ?? ""
    #expect(!token.isEmpty)
    let encoded = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token
    let second = Self.object(
      await Self.call(core, "GET", "/tracking/admin/payloads?page.page_size=2&page.page_token=\(encoded)", token: "admin-token")
    )
    #expect((second["payloads"] as? [Any])?.count == 1)
    #expect((second["pageInfo"] as? [String: Any])?["nextPageToken"] == nil)
  }
}

@Suite("caching authenticator")
struct CachingAuthenticatorTests {
  final class Counting: Authenticator {
    let calls = Counter()
    let fail: Bool
    init(fail: Bool = false) { self.fail = fail }
    func authenticate(bearerToken: String) async throws -> Caller? {
      calls.increment()
      if fail { throw CancellationError() }
      return bearerToken == "good" ? Caller(userID: "u", roles: ["user"]) : nil
    }
  }

  final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
  }

  final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = ContinuousClock.now
    var now: ContinuousClock.Instant { lock.withLock { current } }
    func advance(_ duration: Duration) { lock.withLock { current += duration } }
  }

  @Test("answers are cached until their time runs out; rejections for less time")
  func caching() async throws {
    let upstream = Counting()
    let clock = ManualClock()
    let cache = CachingAuthenticator(wrapping: upstream, ttl: .seconds(30), negativeTTL: .seconds(5), now: { clock.now })
    #expect(try await cache.authenticate(bearerToken: "good")?.userID == "u")
    #expect(try await cache.authenticate(bearerToken: "good")?.userID == "u")
    #expect(upstream.calls.count == 1)
    #expect(try await cache.authenticate(bearerToken: "bad") == nil)
    #expect(try await cache.authenticate(bearerToken: "bad") == nil)
    #expect(upstream.calls.count == 2)
    clock.advance(.seconds(6))
    _ = try await cache.authenticate(bearerToken: "bad")
    _ = try await cache.authenticate(bearerToken: "good")
    #expect(upstream.calls.count == 3, "the rejection expired, the acceptance did not")
    clock.advance(.seconds(30))
    _ = try await cache.authenticate(bearerToken: "good")
    #expect(upstream.calls.count == 4)
  }

  @Test("failures are not cached")
  func failures() async {
    let upstream = Counting(fail: true)
    let cache = CachingAuthenticator(wrapping: upstream)
    for _ in 0..<2 {
      await #expect(throws: CancellationError.self) { try await cache.authenticate(bearerToken: "good") }
    }
    #expect(upstream.calls.count == 2)
  }

  @Test("a full cache drops entries instead of growing")
  func capacity() async throws {
    let upstream = Counting()
    let cache = CachingAuthenticator(wrapping: upstream, capacity: 2)
    for token in ["a", "b", "c", "a"] { _ = try await cache.authenticate(bearerToken: token) }
    #expect(upstream.calls.count == 4)
  }
}
