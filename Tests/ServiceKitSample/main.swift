// servicekit-sample: grpc.testing.TestService served by a CourierServer, for ServiceKit's process
// tests (JSON-only stdout, exit 0 after SIGTERM). Variables: SAMPLE_GRPC_PORT, SAMPLE_HTTP_PORT,
// SAMPLE_SHUTDOWN_GRACE, LOG_LEVEL (see ServerSettings); 0 ports pick free ones.
import Foundation
import Generated
import Interop
import Logging
import ServiceKit

let settings: ServerSettings
do {
  settings = try ServerSettings(prefix: "SAMPLE", defaultGRPCPort: 0, defaultHTTPPort: 0, environment: ServiceEnvironment())
} catch {
  FileHandle.standardError.write(Data("servicekit-sample: \(error)\n".utf8))
  exit(2)
}
ServiceLogging.bootstrap(service: "sample", level: settings.logLevel)
let logger = Logger(label: "sample")
let server = CourierServer(
  name: "sample",
  settings: settings,
  grpcServices: [TestService()],
  restRoutes: [],
  openAPIDocuments: [],
  contracts: CourierContracts.files,
  authenticator: nil,
  logger: logger
)
do {
  try await server.run()
  logger.info("stopped")
} catch {
  logger.error("server failed", metadata: ["error": "\(error)"])
  exit(1)
}
