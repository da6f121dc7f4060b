import ContractRuntime
import CourierTestSupport
import Foundation
import Gateway
import Generated
import GRPCCore
import Health
import ServiceKit
import Synchronization
import Testing
import Transport

@Suite("CourierServer over real sockets")
struct CourierServerTests {
  static let authenticator = StaticTokenAuthenticator([
    "user-token": Caller(userID: "user-1", roles: ["user"]),
    "admin-token": Caller(userID: "admin-1", roles: ["admin"]),
  ])

  @Test("serves gRPC, health, REST, /healthz, /readyz and /metrics with gRPC and HTTP counters")
  func servesAndCounts() async throws {
    let running = try await Harness.start(Harness.irisServer(settings: Harness.settings(), authenticator: Self.authenticator))
    try await Harness.withClient(port: running.grpcPort) { client in
      var request = Courier_Iris_V1_SendMailRequest()
      request.idempotencyKey = "metrics-1"
      let mail = try await Courier_Iris_V1_NotificationService.Client(wrapping: client).sendMail(request)
      #expect(mail.deliveryID == "delivery-metrics-1")

      var check = Grpc_Health_V1_HealthCheckRequest()
      check.service = "courier.iris.v1.NotificationService"
      let health = try await Grpc_Health_V1_Health.Client(wrapping: client).check(check)
      #expect(health.status == .serving)
    }

    let vapid = try await Harness.get(port: running.httpPort, path: "/notifications/push/vapid-public-key")
    #expect(vapid.status == 200)
    #expect(vapid.body.contains("test-key"))
    #expect(try await Harness.get(port: running.httpPort, path: "/healthz").status == 200)
    #expect(try await Harness.get(port: running.httpPort, path: "/readyz").status == 200)

    let metrics = try await Harness.get(port: running.httpPort, path: "/metrics")
    #expect(metrics.status == 200)
    let grpcHandled = Harness.sample(
      metrics.body, "grpc_server_handled_total",
      ["grpc_service": "courier.iris.v1.NotificationService", "grpc_method": "SendMail", "grpc_code": "OK"])
    #expect((grpcHandled ?? 0) >= 1, "\(metrics.body)")
    let grpcLatency = Harness.sample(
      metrics.body, "grpc_server_handling_seconds_count", ["grpc_service": "courier.iris.v1.NotificationService", "grpc_method": "SendMail"])
    #expect((grpcLatency ?? 0) >= 1)
    let httpCount = Harness.sample(
      metrics.body, "http_requests_total", ["route": "/notifications/push/vapid-public-key", "method": "GET", "status": "200"])
    #expect((httpCount ?? 0) >= 1)
    let httpLatency = Harness.sample(
      metrics.body, "http_request_duration_seconds_count", ["route": "/notifications/push/vapid-public-key", "method": "GET"])
    #expect((httpLatency ?? 0) >= 1)
    #expect((Harness.sample(metrics.body, "process_resident_memory_bytes", [:]) ?? 0) > 0)
    #expect(Harness.sample(metrics.body, "process_cpu_seconds_total", [:]) != nil)

    try await running.stop()
  }

  @Test("REST-visible RPCs need a token and the role over gRPC; internal ones need none")
  func accessRules() async throws {
    let running = try await Harness.start(Harness.irisServer(settings: Harness.settings(), authenticator: Self.authenticator))
    try await Harness.withClient(port: running.grpcPort) { client in
      let log = Courier_Iris_V1_DeliveryLogService.Client(wrapping: client)
      let request = Courier_Iris_V1_ListDeliveriesRequest()

      let missing = await #expect(throws: RPCError.self) { try await log.listDeliveries(request) }
      #expect(missing?.code == .unauthenticated)
      #expect(missing?.message == "missing bearer token; send 'authorization: Bearer <access_token>' metadata")

      let unknown = await #expect(throws: RPCError.self) {
        try await log.listDeliveries(request, metadata: ["authorization": "Bearer nobody"])
      }
      #expect(unknown?.code == .unauthenticated)
      #expect(unknown?.message == "the access token is invalid or expired")

      let malformed = await #expect(throws: RPCError.self) {
        try await log.listDeliveries(request, metadata: ["authorization": "Basic abc"])
      }
      #expect(malformed?.code == .unauthenticated)

      let denied = await #expect(throws: RPCError.self) {
        try await log.listDeliveries(request, metadata: ["authorization": "Bearer user-token"])
      }
      #expect(denied?.code == .permissionDenied)
      #expect(denied?.message == "this call needs the role admin")

      _ = try await log.listDeliveries(request, metadata: ["authorization": "Bearer admin-token"])

      // Internal (no HTTP binding) and public RPCs need no token.
      var mail = Courier_Iris_V1_SendMailRequest()
      mail.idempotencyKey = "internal"
      _ = try await Courier_Iris_V1_NotificationService.Client(wrapping: client).sendMail(mail)
      let key = try await Courier_Iris_V1_PushSubscriptionService.Client(wrapping: client)
        .getVapidPublicKey(Courier_Iris_V1_GetVapidPublicKeyRequest())
      #expect(key.publicKey == "test-key")
    }
    let metrics = try await Harness.get(port: running.httpPort, path: "/metrics")
    let denied = Harness.sample(
      metrics.body, "grpc_server_handled_total",
      ["grpc_service": "courier.iris.v1.DeliveryLogService", "grpc_method": "ListDeliveries", "grpc_code": "PERMISSION_DENIED"])
    #expect((denied ?? 0) >= 1)
    try await running.stop()
  }

  @Test("CallContext is bound inside a streaming response's body, with the caller and request id")
  func callContextInStream() async throws {
    let running = try await Harness.start(Harness.irisServer(settings: Harness.settings(), authenticator: Self.authenticator))
    let (messages, requestID) = try await Harness.withClient(port: running.grpcPort) { client in
      try await Courier_Iris_V1_LiveNotificationService.Client(wrapping: client).watchNotifications(
        Courier_Iris_V1_WatchNotificationsRequest(),
        metadata: ["authorization": "Bearer user-token", "x-request-id": "req-stream-42"]
      ) { response in
        var received: [Courier_Iris_V1_Notification] = []
        for try await message in response.messages { received.append(message.notification) }
        return (received, response.metadata[stringValues: "x-request-id"].first { _ in true })
      }
    }
    #expect(messages.count == 3)
    #expect(messages.allSatisfy { $0.title == "user-1" && $0.body == "req-stream-42" })
    #expect(requestID == "req-stream-42")
    try await running.stop()
  }

  @Test("graceful shutdown: an in-flight call completes, new calls are refused, run() returns")
  func gracefulShutdown() async throws {
    let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
    let running = try await Harness.start(
      Harness.irisServer(settings: Harness.settings(grace: .seconds(120)), authenticator: Self.authenticator, slowStarted: startedContinuation)
    )
    try await Harness.withClient(port: running.grpcPort) { client in
      let mail = Courier_Iris_V1_NotificationService.Client(wrapping: client)
      let slow = Task {
        var request = Courier_Iris_V1_SendMailRequest()
        request.idempotencyKey = "slow"
        return try await mail.sendMail(request)
      }
      var iterator = started.makeAsyncIterator()
      _ = await iterator.next()

      let shutdownStarted = ContinuousClock.now
      await running.server.shutdown()
      #expect(try await Self.listenerCloses(port: running.grpcPort), "the gRPC port still accepts connections 10 s after shutdown")

      // A new call, on a new connection, finds the listener closed.
      try await Harness.withClient(port: running.grpcPort) { fresh in
        var request = Courier_Iris_V1_SendMailRequest()
        request.idempotencyKey = "late"
        var options = CallOptions.defaults
        options.timeout = .seconds(2)
        let refused = await #expect(throws: RPCError.self) {
          try await Courier_Iris_V1_NotificationService.Client(wrapping: fresh).sendMail(request, options: options)
        }
        #expect(refused?.code == .unavailable || refused?.code == .deadlineExceeded)
      }
      #expect(try await slow.value.deliveryID == "delivery-slow")
      try await running.task.value
      // run() returns once the last call is done, not when the 120 s grace runs out; the bound is
      // half the grace so that a loaded machine cannot make this fail.
      #expect(ContinuousClock.now - shutdownStarted < .seconds(60))
    }
  }

  @Test("graceful shutdown cancels what is still running after the grace period")
  func graceExpires() async throws {
    let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
    let running = try await Harness.start(
      Harness.irisServer(
        settings: Harness.settings(grace: .milliseconds(300)),
        authenticator: Self.authenticator,
        slowStarted: startedContinuation,
        slowDuration: .seconds(30)
      )
    )
    try await Harness.withClient(port: running.grpcPort) { client in
      let mail = Courier_Iris_V1_NotificationService.Client(wrapping: client)
      let slow = Task {
        var request = Courier_Iris_V1_SendMailRequest()
        request.idempotencyKey = "slow"
        return try await mail.sendMail(request)
      }
      var iterator = started.makeAsyncIterator()
      _ = await iterator.next()
      let shutdownStarted = ContinuousClock.now
      await running.server.shutdown()
      try await running.task.value
      // The handler would sleep 30 s; run() returning well before that shows it was cancelled.
      #expect(ContinuousClock.now - shutdownStarted < .seconds(20))
      await #expect(throws: RPCError.self) { try await slow.value }
    }
  }

  @Test("without an authenticator, tokens are checked with Asgardian's IsAuthenticated, cached")
  func identityServiceAuthenticator() async throws {
    let identity = TestIdentityService()
    let asgardian = try await Harness.start(
      CourierServer(
        name: "asgardian-test", settings: Harness.settings(), grpcServices: [identity], restRoutes: [],
        openAPIDocuments: [], contracts: CourierContracts.files, authenticator: StaticTokenAuthenticator([:]),
        logger: Harness.quietLogger)
    )
    let iris = try await Harness.start(
      Harness.irisServer(settings: Harness.settings(identity: "127.0.0.1:\(asgardian.grpcPort)"), authenticator: nil)
    )
    try await Harness.withClient(port: iris.grpcPort) { client in
      let log = Courier_Iris_V1_DeliveryLogService.Client(wrapping: client)
      let request = Courier_Iris_V1_ListDeliveriesRequest()
      _ = try await log.listDeliveries(request, metadata: ["authorization": "Bearer admin-token"])
      _ = try await log.listDeliveries(request, metadata: ["authorization": "Bearer admin-token"])
      #expect(identity.calls.load(ordering: .relaxed) == 1)

      let user = await #expect(throws: RPCError.self) {
        try await log.listDeliveries(request, metadata: ["authorization": "Bearer user-token"])
      }
      #expect(user?.code == .permissionDenied)
      for token in ["expired-token", "unauthenticated-token"] {
        let refused = await #expect(throws: RPCError.self) {
          try await log.listDeliveries(request, metadata: ["authorization": "Bearer \(token)"])
        }
        #expect(refused?.code == .unauthenticated, "\(token)")
      }
      let broken = await #expect(throws: RPCError.self) {
        try await log.listDeliveries(request, metadata: ["authorization": "Bearer broken-token"])
      }
      #expect(broken?.code == .unavailable)
    }
    // Over REST the same authenticator decides: 401 for a refused token, 503 when Asgardian fails,
    // and a valid token reaches the service (which answers UNIMPLEMENTED here: 501).
    let path = "/notifications/push/subscriptions"
    #expect(try await Harness.get(port: iris.httpPort, path: path, headers: ["Authorization": "Bearer expired-token"]).status == 401)
    #expect(try await Harness.get(port: iris.httpPort, path: path, headers: ["Authorization": "Bearer broken-token"]).status == 503)
    #expect(try await Harness.get(port: iris.httpPort, path: path, headers: ["Authorization": "Bearer user-token"]).status == 501)
    try await iris.stop()
    try await asgardian.stop()
  }

  /// Probes `port` until nothing accepts a TCP connection there any more; false if something
  /// still does after `seconds`.
  static func listenerCloses(port: Int, within seconds: Int = 10) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
      if !Loopback.acceptsConnections(port: port) { return true }
      try await Task.sleep(for: .milliseconds(10))
    }
    return false
  }
}
