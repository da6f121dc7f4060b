// courier-gateway-sample: serves the sample services through the gateway on loopback, for the Python
// REST tests and scripts/bench-rest.sh.
//
//   courier-gateway-sample [--port N] [--keep-alive-ms N] [--max-body N]   the gateway (port 0: any free)
//   courier-gateway-sample --hello [--port N]                              a plain Hummingbird hello-world
//   courier-gateway-sample --dump-openapi DIR                              every generated document
//
// It prints `listening on 127.0.0.1:<port>` once it accepts connections, and stops on SIGTERM/SIGINT.
import Foundation
import Gateway
import GatewaySample
import Generated
import Hummingbird
import Logging

let arguments = Array(CommandLine.arguments.dropFirst())
func option(_ name: String, in arguments: [String] = arguments) -> String? {
  guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
  return arguments[index + 1]
}

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("courier-gateway-sample: \(message)\n".utf8))
  exit(2)
}

if let directory = option("--dump-openapi") {
  for (service, document) in CourierContracts.openAPIDocuments {
    let url = URL(fileURLWithPath: directory).appendingPathComponent("\(service).json")
    do { try Data(document.utf8).write(to: url) } catch { fail("cannot write \(url.path): \(error)") }
  }
  print("wrote \(CourierContracts.openAPIDocuments.count) documents to \(directory)")
  exit(0)
}

guard let port = Int(option("--port") ?? "0"), (0...65535).contains(port) else { fail("--port takes 0 to 65535") }
var logger = Logger(label: "courier.gateway.sample")
logger.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info") ?? .info

let announce: @Sendable (Int) async -> Void = { port in
  FileHandle.standardOutput.write(Data("listening on 127.0.0.1:\(port)\n".utf8))
}

if arguments.contains("--hello") {
  // The benchmark's baseline: Hummingbird with one route and nothing else.
  let router = Router()
  router.get("/hello") { _, _ -> Response in
    Response(
      status: .ok,
      headers: [.contentType: "application/json"],
      body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"message":"hello"}"#))
    )
  }
  let app = Application(
    router: router,
    configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)),
    onServerRunning: { channel in await announce(channel.localAddress?.port ?? 0) },
    logger: logger
  )
  try await app.runService()
  exit(0)
}

var configuration = GatewayConfiguration.defaults
configuration.port = port
if let text = option("--keep-alive-ms") {
  guard let milliseconds = Int(text), milliseconds > 0 else { fail("--keep-alive-ms takes a positive number") }
  configuration.keepAliveInterval = .milliseconds(milliseconds)
}
if let text = option("--max-body") {
  guard let bytes = Int(text), bytes > 0 else { fail("--max-body takes a positive number") }
  configuration.maxBodySize = bytes
}
let core = try SampleGateway.core(configuration: configuration, logger: logger)
try await GatewayServer(core: core).run(onListening: announce)
