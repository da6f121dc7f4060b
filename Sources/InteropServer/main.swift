// interop-server: grpc.testing.TestService on the nghttp2 transport, for interop peers.
// Usage: interop-server [--port N] [--use_tls --tls_cert_file PEM --tls_key_file PEM]
//                       [--response_compression gzip|deflate]
// --port 0 or absent: a free port. With --use_tls it serves TLS with ALPN h2 instead of h2c.
// With --response_compression it compresses responses for clients that accept the encoding.
// Prints "listening on PORT" once bound; callers should still probe readiness with an RPC.
import Foundation
import GRPCCore
import Health
import Interop
import NIOSSL
import Transport

var port = 0
var useTLS = false
var certificateFile: String?
var keyFile: String?
var responseCompression = CompressionAlgorithm.none
var arguments = CommandLine.arguments.dropFirst().makeIterator()

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("interop-server: \(message)\n".utf8))
  exit(2)
}

while let argument = arguments.next() {
  var name = argument
  var inlineValue: String?
  if let equals = argument.firstIndex(of: "=") {
    name = String(argument[..<equals])
    inlineValue = String(argument[argument.index(after: equals)...])
  }
  func value() -> String {
    guard let value = inlineValue ?? arguments.next() else { fail("\(name) needs a value") }
    return value
  }
  switch name {
  case "--port":
    guard let number = Int(value()) else { fail("--port needs a number") }
    port = number
  case "--use_tls": useTLS = inlineValue.map { $0 == "true" } ?? true
  case "--tls_cert_file": certificateFile = value()
  case "--tls_key_file": keyFile = value()
  case "--response_compression":
    switch value() {
    case "gzip": responseCompression = .gzip
    case "deflate": responseCompression = .deflate
    case "identity", "none": responseCompression = .none
    case let other: fail("unknown --response_compression \(other): use gzip, deflate or identity")
    }
  default: fail("unknown argument \(argument)")
  }
}

var config = NGHTTP2ServerTransport.Config.defaults
config.compression.responseAlgorithm = responseCompression
if useTLS {
  guard let certificateFile, let keyFile else { fail("--use_tls needs --tls_cert_file and --tls_key_file") }
  config.tls = .init(
    configuration: .makeServerConfiguration(
      certificateChain: try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) },
      privateKey: .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
    )
  )
}

let transport = NGHTTP2ServerTransport(address: .init(host: "127.0.0.1", port: port), config: config)
let health = HealthService(servingServices: ["grpc.testing.TestService"])
let server = GRPCServer(transport: transport, services: [TestService(), health])
try await withThrowingDiscardingTaskGroup { group in
  group.addTask { try await server.serve() }
  let address = try await transport.listeningAddress
  FileHandle.standardOutput.write(Data("listening on \(address.port)\n".utf8))
}
