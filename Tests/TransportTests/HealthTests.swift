import Generated
import GRPCCore
import Health
import Testing
@testable import Transport

@Suite("grpc.health.v1.Health over the nghttp2 transport")
struct HealthTests {
  @Test("Check: the server and registered services are SERVING; an unknown service is NOT_FOUND")
  func check() async throws {
    let health = HealthService(servingServices: ["probe.Probe"])
    try await withTestServer(services: [ProbeService(), health]) { _, port in
      try await withTestClient(port: port) { client in
        let stub = Grpc_Health_V1_Health.Client(wrapping: client)
        for service in ["", "probe.Probe"] {
          var request = Grpc_Health_V1_HealthCheckRequest()
          request.service = service
          let status = try await stub.check(request).status
          #expect(status == .serving)
        }
        var unknown = Grpc_Health_V1_HealthCheckRequest()
        unknown.service = "nope.Nope"
        let error = await #expect(throws: RPCError.self) { try await stub.check(unknown) }
        #expect(error?.code == .notFound)
      }
    }
  }

  @Test("Watch: the current status first, then every change")
  func watch() async throws {
    let health = HealthService(servingServices: ["probe.Probe"])
    try await withTestServer(services: [health]) { _, port in
      try await withTestClient(port: port) { client in
        let stub = Grpc_Health_V1_Health.Client(wrapping: client)
        var request = Grpc_Health_V1_HealthCheckRequest()
        request.service = "probe.Probe"
        let seen = try await stub.watch(request) { response in
          var seen: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
          for try await message in response.messages {
            seen.append(message.status)
            if seen.count == 1 { health.setStatus(.notServing, forService: "probe.Probe") }
            if seen.count == 2 { break }
          }
          return seen
        }
        #expect(seen == [.serving, .notServing])
      }
    }
  }
}
