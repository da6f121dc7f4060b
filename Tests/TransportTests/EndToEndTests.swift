import GRPCCore
import Interop
import NIOCore
import NIOPosix
import Testing
@testable import Transport

@Suite("End to end: our client and our server on loopback")
struct EndToEndTests {
  static let bytes = BytesSerializer()

  @Test("interop case over nghttp2 on both sides", arguments: InteropTestCase.allCases)
  func interop(testCase: InteropTestCase) async throws {
    try await withTestServer(services: [TestService()]) { _, port in
      try await withTestClient(port: port) { client in
        try await testCase.run(using: client)
      }
    }
  }

  @Test("interop case with handlers on Swift's global executor", arguments: InteropTestCase.allCases)
  func interopOnGlobalExecutor(testCase: InteropTestCase) async throws {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.handlerExecution = .globalExecutor
    try await withTestServer(services: [TestService()], config: config) { _, port in
      try await withTestClient(port: port) { client in
        try await testCase.run(using: client)
      }
    }
  }

  @Test("handlers run on the event loop alone on their connection (adaptive), always there, or on the global executor")
  func handlerExecution() async throws {
    /// Where WhereAmI's handler ran ([1]: an event loop), called alone and then while a Hold
    /// stream is open on the same connection.
    func whereAmI(_ execution: NGHTTP2ServerTransport.Config.HandlerExecution) async throws -> (alone: [UInt8], busy: [UInt8]) {
      var config = NGHTTP2ServerTransport.Config.defaults
      config.handlerExecution = execution
      return try await withTestServer(services: [ProbeService()], config: config) { _, port in
        try await withTestClient(port: port) { client in
          let call: @Sendable () async throws -> [UInt8] = {
            try await client.unary(
              request: ClientRequest(message: []), descriptor: ProbeService.whereAmI,
              serializer: Self.bytes, deserializer: Self.bytes, options: .defaults
            ) { try $0.message }
          }
          let alone = try await call()
          let (firstMessage, gotFirst) = AsyncStream.makeStream(of: Void.self)
          let hold = Task {
            try await client.serverStreaming(
              request: ClientRequest(message: []), descriptor: ProbeService.hold,
              serializer: Self.bytes, deserializer: Self.bytes, options: .defaults
            ) { response in
              for try await _ in response.messages { gotFirst.yield() }
            }
          }
          var first = firstMessage.makeAsyncIterator()
          _ = await first.next()
          let busy = try await call()
          hold.cancel()
          _ = await hold.result
          return (alone, busy)
        }
      }
    }
    #expect(NGHTTP2ServerTransport.Config.defaults.handlerExecution == .adaptive)
    let adaptive = try await whereAmI(.adaptive)
    #expect(adaptive.alone == [1] && adaptive.busy == [0])
    let loop = try await whereAmI(.eventLoop)
    #expect(loop.alone == [1] && loop.busy == [1])
    let pool = try await whereAmI(.globalExecutor)
    #expect(pool.alone == [0] && pool.busy == [0])
  }

  @Test("unary: message and metadata (string and -bin) round-trip; trailers carry metadata")
  func unary() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        var metadata: Metadata = ["echo-text": "héllo wörld"]
        metadata.addBinary([0, 1, 254, 255], forKey: "echo-data-bin")
        let (message, trailers) = try await client.unary(
          request: ClientRequest(message: [1, 2, 3], metadata: metadata),
          descriptor: ProbeService.echo,
          serializer: Self.bytes,
          deserializer: Self.bytes,
          options: .defaults
        ) { response in (try response.message, response.trailingMetadata) }
        #expect(message == [1, 2, 3])
        #expect(Array(trailers[stringValues: "echo-text"]) == ["héllo wörld"])
        #expect(Array(trailers[binaryValues: "echo-data-bin"]) == [[0, 1, 254, 255]])
      }
    }
  }

  @Test("an error status keeps its code, percent-encoded message and binary trailers")
  func errorStatus() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        let message = "not here: 100% \u{1F608}\r\n"
        let error = await #expect(throws: RPCError.self) {
          try await client.unary(
            request: ClientRequest(message: [5] + Array(message.utf8)),
            descriptor: ProbeService.fail,
            serializer: Self.bytes,
            deserializer: Self.bytes,
            options: .defaults
          ) { try $0.message }
        }
        #expect(error?.code == .notFound)
        #expect(error?.message == message)
        #expect(error.map { Array($0.metadata[binaryValues: "detail-bin"]) } == [[0, 1, 2, 255]])
      }
    }
  }

  @Test("an unknown method and an unknown service are UNIMPLEMENTED")
  func unimplemented() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        for descriptor in [
          MethodDescriptor(fullyQualifiedService: "probe.Probe", method: "Nope"),
          MethodDescriptor(fullyQualifiedService: "nope.Nope", method: "Echo"),
        ] {
          let error = await #expect(throws: RPCError.self) {
            try await client.unary(
              request: ClientRequest(message: []),
              descriptor: descriptor,
              serializer: Self.bytes,
              deserializer: Self.bytes,
              options: .defaults
            ) { try $0.message }
          }
          #expect(error?.code == .unimplemented)
        }
      }
    }
  }

  @Test("a client deadline fails the call with DEADLINE_EXCEEDED")
  func deadline() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        var options = CallOptions.defaults
        options.timeout = .milliseconds(200)
        let error = await #expect(throws: RPCError.self) {
          try await client.serverStreaming(
            request: ClientRequest(message: [], metadata: ["probe-id": "deadline"]),
            descriptor: ProbeService.hold,
            serializer: Self.bytes,
            deserializer: Self.bytes,
            options: options
          ) { response in
            for try await _ in response.messages {}
          }
        }
        #expect(error?.code == .deadlineExceeded)
      }
    }
  }

  @Test("grpc-timeout from the peer becomes the server's deadline: the server ends the RPC")
  func serverEnforcesTimeout() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await RawHTTP2Connection.with(port: port) { raw in
        let id = raw.openStream(
          headers: RawHTTP2Connection.grpcHeaders(path: "/probe.Probe/Hold", extra: [("grpc-timeout", "100m")])
        )
        raw.sendData(id, [0, 0, 0, 0, 0], end: true)
        try await raw.flush()
        // No client-side deadline here: only the server can end this stream.
        let events = try await raw.read(until: {
          RawHTTP2Connection.value("grpc-status", in: RawHTTP2Connection.headers($0, stream: id)) != nil
        })
        let status = RawHTTP2Connection.value("grpc-status", in: RawHTTP2Connection.headers(events, stream: id))
        // GRPCCore cancels the handler at the deadline; the handler then ends with CANCELLED.
        #expect(status == "1" || status == "4")
      }
    }
  }

  @Test("a client that cancels resets the stream and the server handler sees the cancellation")
  func clientCancels() async throws {
    let log = CancellationLog()
    try await withTestServer(services: [ProbeService(log: log)]) { _, port in
      try await withTestClient(port: port) { client in
        let (firstMessage, gotFirst) = AsyncStream.makeStream(of: Void.self)
        let call = Task {
          try await client.serverStreaming(
            request: ClientRequest(message: [], metadata: ["probe-id": "cancel"]),
            descriptor: ProbeService.hold,
            serializer: Self.bytes,
            deserializer: Self.bytes,
            options: .defaults
          ) { response in
            for try await _ in response.messages { gotFirst.yield() }
          }
        }
        var first = firstMessage.makeAsyncIterator()
        _ = await first.next()
        call.cancel()
        let result = await call.result
        #expect(throws: (any Error).self) { try result.get() }
        var iterator = log.events.makeAsyncIterator()
        #expect(await iterator.next() == "cancelled cancel")
        // The connection keeps serving.
        let echoed = try await echoRoundTrip(port: port)
        #expect(echoed == [1, 2, 3])
      }
    }
  }

  @Test("a request message over the server's limit is RESOURCE_EXHAUSTED")
  func requestTooLarge() async throws {
    var config = NGHTTP2ServerTransport.Config.defaults
    config.rpc.maxRequestPayloadSize = 1024
    try await withTestServer(services: [ProbeService()], config: config) { _, port in
      try await withTestClient(port: port) { client in
        let error = await #expect(throws: RPCError.self) {
          try await client.unary(
            request: ClientRequest(message: [UInt8](repeating: 1, count: 1025)),
            descriptor: ProbeService.echo,
            serializer: Self.bytes,
            deserializer: Self.bytes,
            options: .defaults
          ) { try $0.message }
        }
        #expect(error?.code == .resourceExhausted)
        let echoed = try await echoRoundTrip(port: port, [UInt8](repeating: 2, count: 1024))
        #expect(echoed.count == 1024)
      }
    }
  }

  @Test("the default limit is 4 MiB: 4 MiB passes, 4 MiB + 1 is RESOURCE_EXHAUSTED")
  func defaultLimit() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        let ok = try await client.unary(
          request: ClientRequest(message: [UInt8](repeating: 3, count: 4 * 1024 * 1024)),
          descriptor: ProbeService.echo,
          serializer: Self.bytes,
          deserializer: Self.bytes,
          options: .defaults
        ) { try $0.message }
        #expect(ok.count == 4 * 1024 * 1024)
        let error = await #expect(throws: RPCError.self) {
          try await client.unary(
            request: ClientRequest(message: [UInt8](repeating: 3, count: 4 * 1024 * 1024 + 1)),
            descriptor: ProbeService.echo,
            serializer: Self.bytes,
            deserializer: Self.bytes,
            options: .defaults
          ) { try $0.message }
        }
        #expect(error?.code == .resourceExhausted)
      }
    }
  }

  @Test("a response message over the client's limit is RESOURCE_EXHAUSTED")
  func responseTooLarge() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      var config = NGHTTP2ClientTransport.Config.defaults
      config.rpc.maxResponsePayloadSize = 100
      try await withTestClient(port: port, config: config) { client in
        let error = await #expect(throws: RPCError.self) {
          try await floodCall(client, count: 1, size: 101)
        }
        #expect(error?.code == .resourceExhausted)
      }
    }
  }

  @Test("many concurrent calls are multiplexed on one connection")
  func multiplexing() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        try await withThrowingTaskGroup(of: Bool.self) { group in
          for index in 0..<300 {
            group.addTask {
              let payload = [UInt8](repeating: UInt8(index % 251), count: index)
              let echoed = try await client.unary(
                request: ClientRequest(message: payload),
                descriptor: ProbeService.echo,
                serializer: Self.bytes,
                deserializer: Self.bytes,
                options: .defaults
              ) { try $0.message }
              return echoed == payload
            }
          }
          var all = true
          for try await ok in group { all = all && ok }
          #expect(all)
        }
      }
    }
  }

  @Test("bidirectional streaming echoes 1000 messages of mixed sizes in order")
  func bidi() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        let sizes = (0..<1000).map { ($0 * 7919) % 70_000 }
        let received = try await client.bidirectionalStreaming(
          request: StreamingClientRequest(of: [UInt8].self) { writer in
            for size in sizes { try await writer.write([UInt8](repeating: UInt8(size % 256), count: size)) }
          },
          descriptor: ProbeService.echo,
          serializer: Self.bytes,
          deserializer: Self.bytes,
          options: .defaults
        ) { response in
          var sizes: [Int] = []
          for try await message in response.messages { sizes.append(message.count) }
          return sizes
        }
        #expect(received == sizes)
      }
    }
  }

  @Test("server streaming 64 MiB through 1 MiB windows to a reader that consumes slowly arrives whole")
  func backPressure() async throws {
    try await withTestServer(services: [ProbeService()]) { _, port in
      try await withTestClient(port: port) { client in
        let total = try await client.serverStreaming(
          request: ClientRequest(message: floodRequest(count: 1024, size: 65_536)),
          descriptor: ProbeService.flood,
          serializer: Self.bytes,
          deserializer: Self.bytes,
          options: .defaults
        ) { response in
          var total = 0
          for try await message in response.messages {
            total += message.count
            await Task.yield()
          }
          return total
        }
        #expect(total == 1024 * 65_536)
      }
    }
  }

  @Test("with no server listening, calls fail with UNAVAILABLE")
  func unavailable() async throws {
    let port = try await unusedPort()
    try await withTestClient(port: port) { client in
      for _ in 0..<2 {
        let error = await #expect(throws: RPCError.self) {
          try await client.unary(
            request: ClientRequest(message: []),
            descriptor: ProbeService.echo,
            serializer: Self.bytes,
            deserializer: Self.bytes,
            options: .defaults
          ) { try $0.message }
        }
        #expect(error?.code == .unavailable)
      }
    }
  }

  @Test("graceful shutdown: GOAWAY, the in-flight stream finishes, the server stops")
  func gracefulShutdown() async throws {
    let transport = NGHTTP2ServerTransport(address: .init(host: "127.0.0.1", port: 0))
    let server = GRPCServer(transport: transport, services: [ProbeService()])
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await server.serve() }
      let port = try await transport.listeningAddress.port
      try await withTestClient(port: port) { client in
        let (turns, turn) = AsyncStream.makeStream(of: Int.self)
        let received = try await client.bidirectionalStreaming(
          request: StreamingClientRequest(of: [UInt8].self) { writer in
            var iterator = turns.makeAsyncIterator()
            try await writer.write([1])
            _ = await iterator.next()
            // The first echo arrived: shut down while this stream is open, then keep using it.
            server.beginGracefulShutdown()
            try await writer.write([2])
            _ = await iterator.next()
          },
          descriptor: ProbeService.echo,
          serializer: Self.bytes,
          deserializer: Self.bytes,
          options: .defaults
        ) { response in
          // However the response ends, the request side must not wait for another turn.
          defer { turn.finish() }
          var all: [[UInt8]] = []
          for try await message in response.messages {
            all.append(message)
            turn.yield(all.count)
          }
          return all
        }
        #expect(received == [[1], [2]])
      }
      // serve() returns once the in-flight stream is done.
      try await group.next()
      // Nothing listens any more: a new call fails with UNAVAILABLE.
      let error = await #expect(throws: RPCError.self) { try await echoRoundTrip(port: port) }
      #expect(error?.code == .unavailable)
    }
  }
}
