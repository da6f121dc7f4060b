import Foundation
import GRPCCore
import Interop
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Testing
@testable import Transport

/// A throwaway CA and a server certificate for 127.0.0.1 and localhost, made by the `openssl`
/// command (Debian `openssl`) in a temporary folder.
struct TestCertificates {
  let directory: URL
  var caFile: String { self.directory.appendingPathComponent("ca.pem").path }
  var certificateFile: String { self.directory.appendingPathComponent("server.pem").path }
  var keyFile: String { self.directory.appendingPathComponent("server.key").path }
  var localhostOnlyCertificateFile: String { self.directory.appendingPathComponent("localhost.pem").path }

  static func make() throws -> TestCertificates {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("transport-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8)
      .write(to: directory.appendingPathComponent("server.ext"))
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try Self.openssl(in: directory, ["req", "-x509"] + ec + [
      "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Courier Test CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ])
    try Self.openssl(in: directory, ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
    try Self.openssl(in: directory, [
      "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
    ])
    // The same key for localhost only: swift-nio-ssl accepts an IP address SAN that matches the
    // peer's address whatever name the client expects, so a name check needs a certificate without.
    try Data("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8)
      .write(to: directory.appendingPathComponent("localhost.ext"))
    try Self.openssl(in: directory, [
      "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", "localhost.pem", "-days", "2", "-extfile", "localhost.ext",
    ])
    return TestCertificates(directory: directory)
  }

  private static func openssl(in directory: URL, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    // Output to a file, not a pipe: a server another test starts meanwhile could inherit the
    // pipe's write end, and reading to its end would then wait for that server.
    let log = directory.appendingPathComponent("openssl-\(UUID().uuidString).log")
    FileManager.default.createFile(atPath: log.path, contents: nil)
    let output = try FileHandle(forWritingTo: log)
    defer { try? output.close() }
    process.standardOutput = output
    process.standardError = output
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
      throw OpenSSLFailed(arguments: arguments, output: text)
    }
  }

  struct OpenSSLFailed: Error, CustomStringConvertible {
    var arguments: [String]
    var output: String
    var description: String { "openssl \(self.arguments.joined(separator: " ")) failed: \(self.output)" }
  }

  func serverConfig(localhostOnly: Bool = false) throws -> NGHTTP2ServerTransport.Config {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.tls = .init(configuration: try self.serverTLS(localhostOnly: localhostOnly))
    return config
  }

  func serverTLS(localhostOnly: Bool = false) throws -> TLSConfiguration {
    let file = localhostOnly ? self.localhostOnlyCertificateFile : self.certificateFile
    return .makeServerConfiguration(
      certificateChain: try NIOSSLCertificate.fromPEMFile(file).map { .certificate($0) },
      privateKey: .privateKey(try NIOSSLPrivateKey(file: self.keyFile, format: .pem))
    )
  }

  var caCertificates: [NIOSSLCertificate] {
    get throws { try NIOSSLCertificate.fromPEMFile(self.caFile) }
  }

  /// A client that trusts the test CA (or, with `trustingCA` false, only the system's roots).
  func clientConfig(trustingCA: Bool = true, serverHostname: String? = nil) throws -> NGHTTP2ClientTransport.Config {
    var tls = TLSConfiguration.makeClientConfiguration()
    if trustingCA {
      tls.trustRoots = .certificates(try self.caCertificates)
    }
    var config = NGHTTP2ClientTransport.Config.defaults
    config.tls = .init(configuration: tls, serverHostname: serverHostname)
    return config
  }
}

/// Waits for a TLS handshake and reports the protocol ALPN picked.
final class HandshakeProbe: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  let negotiated: EventLoopPromise<String?>

  init(negotiated: EventLoopPromise<String?>) {
    self.negotiated = negotiated
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if case .handshakeCompleted(let negotiated)? = event as? TLSUserEvent {
      self.negotiated.succeed(negotiated)
    }
    context.fireUserInboundEventTriggered(event)
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    self.negotiated.fail(error)
    context.close(promise: nil)
  }

  func channelInactive(context: ChannelHandlerContext) {
    self.negotiated.fail(ChannelError.eof)
    context.fireChannelInactive()
  }
}

@Suite("TLS with ALPN h2", .timeLimit(.minutes(1)))
struct TLSTests {
  let certificates: TestCertificates

  init() throws {
    self.certificates = try TestCertificates.make()
  }

  @Test("every interop case (all four RPC kinds) over TLS between our client and our server")
  func interopOverTLS() async throws {
    try await withTestServer(services: [TestService()], config: try self.certificates.serverConfig()) { _, port in
      try await withTestClient(port: port, config: try self.certificates.clientConfig()) { client in
        for testCase in InteropTestCase.allCases {
          try await testCase.run(using: client)
        }
      }
    }
  }

  @Test("the server negotiates h2 with ALPN when the client offers h2 and http/1.1")
  func alpnPicksH2() async throws {
    try await withTestServer(services: [ProbeService()], config: try self.certificates.serverConfig()) { _, port in
      var tls = TLSConfiguration.makeClientConfiguration()
      tls.trustRoots = .certificates(try self.certificates.caCertificates)
      tls.applicationProtocols = ["http/1.1", "h2"]
      let context = try NIOSSLContext(configuration: tls)
      let negotiated = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: String?.self)
      let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: "localhost"))
            try channel.pipeline.syncOperations.addHandler(HandshakeProbe(negotiated: negotiated))
          }
        }
        .connect(host: "127.0.0.1", port: port)
        .get()
      let result = try await negotiated.futureResult.get()
      #expect(result == "h2")
      try await channel.close()
    }
  }

  @Test("a client that does not trust the server's certificate fails with UNAVAILABLE and says why")
  func untrustedCertificate() async throws {
    try await withTestServer(services: [ProbeService()], config: try self.certificates.serverConfig()) { _, port in
      try await withTestClient(port: port, config: try self.certificates.clientConfig(trustingCA: false)) { client in
        let error = await #expect(throws: RPCError.self) {
          try await echoCall(client, [1])
        }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("TLS failed") == true, "\(String(describing: error))")
        #expect(error?.message.contains("CERTIFICATE_VERIFY_FAILED") == true, "\(String(describing: error))")
      }
    }
  }

  @Test("a certificate for another name fails with UNAVAILABLE naming the hostname check")
  func wrongHostname() async throws {
    let serverConfig = try self.certificates.serverConfig(localhostOnly: true)
    try await withTestServer(services: [ProbeService()], config: serverConfig) { _, port in
      // The right name works...
      let echoed = try await withTestClient(port: port, config: try self.certificates.clientConfig(serverHostname: "localhost")) { client in
        try await echoCall(client, [1])
      }
      #expect(echoed == [1])
      // ...another does not.
      let config = try self.certificates.clientConfig(serverHostname: "courier.example")
      try await withTestClient(port: port, config: config) { client in
        let error = await #expect(throws: RPCError.self) {
          try await echoCall(client, [1])
        }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("courier.example") == true, "\(String(describing: error))")
      }
    }
  }

  @Test("our client refuses a TLS server that does not negotiate h2")
  func serverWithoutH2() async throws {
    // A TLS server with no ALPN at all: what an HTTP/1.1-only server looks like.
    let context = try NIOSSLContext(configuration: try self.certificates.serverTLS())
    let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }
      }
      .bind(host: "127.0.0.1", port: 0)
      .get()
    let port = listener.localAddress!.port!
    try await withTestClient(port: port, config: try self.certificates.clientConfig()) { client in
      let error = await #expect(throws: RPCError.self) {
        try await echoCall(client, [1])
      }
      #expect(error?.code == .unavailable)
      #expect(error?.message.contains("did not negotiate h2") == true, "\(String(describing: error))")
    }
    try await listener.close()
  }
}
