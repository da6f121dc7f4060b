import GRPCCore
import GRPCNIOTransportHTTP2
import Interop
import Testing
@testable import Transport

/// Our transports against grpc-swift-nio-transport, with the same TestService code above both.
@Suite("Cross-transport: nghttp2 against grpc-swift-nio-transport")
struct CrossTransportTests {
  @Test("our client against the NIO server", arguments: InteropTestCase.allCases)
  func ourClientNIOServer(testCase: InteropTestCase) async throws {
    let transport = HTTP2ServerTransport.Posix(
      address: .ipv4(host: "127.0.0.1", port: 0),
      transportSecurity: .plaintext
    )
    try await withGRPCServer(transport: transport, services: [TestService()]) { _ in
      guard let port = try await transport.listeningAddress.ipv4?.port else {
        Issue.record("the NIO server did not start")
        return
      }
      try await withTestClient(port: port) { client in
        try await testCase.run(using: client)
      }
    }
  }

  @Test("the NIO client against our server", arguments: InteropTestCase.allCases)
  func nioClientOurServer(testCase: InteropTestCase) async throws {
    try await withTestServer(services: [TestService()]) { _, port in
      let transport = try HTTP2ClientTransport.Posix(
        target: .ipv4(address: "127.0.0.1", port: port),
        transportSecurity: .plaintext
      )
      try await withGRPCClient(transport: transport) { client in
        try await testCase.run(using: client)
      }
    }
  }
}
