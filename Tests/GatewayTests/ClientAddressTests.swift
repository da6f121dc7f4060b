import ContractRuntime
import Foundation
import Gateway
import Generated
import GRPCCore
import Synchronization
import Testing

/// The client address the gateway hands services (for rate limits), and `Retry-After` on 429.
@Suite("gateway: client address and Retry-After")
struct ClientAddressTests {
  /// The client addresses the handler saw.
  final class Seen: Sendable {
    private let values = Mutex<[String?]>([])
    func append(_ value: String?) { values.withLock { $0.append(value) } }
    var all: [String?] { values.withLock { $0 } }
  }

  /// A gateway with one route (GET /tracking/payload, authenticated) whose handler records the call
  /// context's client address and then throws `error`, if any.
  static func core(
    throwing error: (any Error)? = nil, trustedProxies: Set<String> = ["127.0.0.1", "::1"]
  ) throws -> (GatewayCore, Seen) {
    let seen = Seen()
    let route = RESTRoute(spec: Courier_Hermes_V1_TrackingService_REST.getAllPayloadSubscriptions) { _ in
      seen.append(CallContext.current?.clientAddress)
      if let error { throw error }
      return .message(Array("{}".utf8))
    }
    let core = try GatewayCore(
      routes: [route], openAPIDocuments: [],
      authenticator: StaticTokenAuthenticator(["t": Caller(userID: "u", roles: ["user"])]),
      configuration: GatewayConfiguration(trustedProxies: trustedProxies))
    return (core, seen)
  }

  static func request(peer: String, forwardedFor: String? = nil) -> GatewayRequest {
    var headers = [(name: "Authorization", value: "Bearer t")]
    if let forwardedFor { headers.append((name: "X-Forwarded-For", value: forwardedFor)) }
    return GatewayRequest(method: "GET", target: "/tracking/payload", headers: headers, remotePeer: peer)
  }

  @Test(
    "the peer is the client unless it is a trusted proxy; then the right-most untrusted X-Forwarded-For hop",
    arguments: [
      ("ipv4:203.0.113.9:5000", nil, "203.0.113.9"),
      ("ipv4:203.0.113.9:5000", "198.51.100.1", "203.0.113.9"),
      ("ipv4:127.0.0.1:5000", nil, "127.0.0.1"),
      ("ipv4:127.0.0.1:5000", "198.51.100.1", "198.51.100.1"),
      ("ipv4:127.0.0.1:5000", "10.9.9.9, 198.51.100.1, 127.0.0.1", "198.51.100.1"),
      ("ipv6:[::1]:5000", "2001:db8::7", "2001:db8::7"),
      ("", "198.51.100.1", nil),
    ] as [(String, String?, String?)]
  )
  func clientAddress(peer: String, forwardedFor: String?, expected: String?) async throws {
    let (core, seen) = try Self.core()
    let response = await core.respond(to: Self.request(peer: peer, forwardedFor: forwardedFor))
    #expect(response.status == 200)
    #expect(seen.all == [expected])
  }

  @Test("with no trusted proxy, X-Forwarded-For is ignored")
  func untrusted() async throws {
    let (core, seen) = try Self.core(trustedProxies: [])
    _ = await core.respond(to: Self.request(peer: "ipv4:127.0.0.1:5000", forwardedFor: "198.51.100.1"))
    #expect(seen.all == ["127.0.0.1"])
  }

  @Test("RESOURCE_EXHAUSTED with retry-after metadata is 429 with Retry-After")
  func retryAfter() async throws {
    var metadata = Metadata()
    metadata.addString("42", forKey: "retry-after")
    let (core, _) = try Self.core(throwing: RPCError(code: .resourceExhausted, message: "slow down", metadata: metadata))
    let response = await core.respond(to: Self.request(peer: "ipv4:203.0.113.9:5000"))
    #expect(response.status == 429)
    #expect(response.header("retry-after") == "42")

    let (plain, _) = try Self.core(throwing: RPCError(code: .resourceExhausted, message: "slow down"))
    #expect(await plain.respond(to: Self.request(peer: "ipv4:203.0.113.9:5000")).header("retry-after") == nil)
    var bad = Metadata()
    bad.addString("soon", forKey: "retry-after")
    let (garbage, _) = try Self.core(throwing: RPCError(code: .resourceExhausted, message: "x", metadata: bad))
    #expect(await garbage.respond(to: Self.request(peer: "ipv4:203.0.113.9:5000")).header("retry-after") == nil)
  }
}
