// interop-server: grpc.testing.TestService on the nghttp2 transport, for interop peers.
// Usage: interop-server [--port N] (0 or absent: a free port). Prints "listening on PORT" once
// bound; callers should still probe readiness with an RPC.
import Foundation
import GRPCCore
import Health
import Interop
import Transport

var port = 0
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
  if argument == "--port", let value = arguments.next(), let number = Int(value) {
    port = number
  } else if argument.hasPrefix("--port="), let number = Int(argument.dropFirst(7)) {
    port = number
  }
}

let transport = NGHTTP2ServerTransport(address: .init(host: "127.0.0.1", port: port))
let health = HealthService(servingServices: ["grpc.testing.TestService"])
let server = GRPCServer(transport: transport, services: [TestService(), health])
try await withThrowingDiscardingTaskGroup { group in
  group.addTask { try await server.serve() }
  let address = try await transport.listeningAddress
  FileHandle.standardOutput.write(Data("listening on \(address.port)\n".utf8))
}
