import GRPCCore
import NIOCore
import NIOPosix
import Testing
@testable import Transport

/// Raw bytes as gRPC messages.
struct BytesSerializer: MessageSerializer, MessageDeserializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
  func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> [UInt8] {
    bytes.withUnsafeBytes { Array($0) }
  }
}

/// Records cancellations seen by the probe service's handlers.
final class CancellationLog: Sendable {
  let events: AsyncStream<String>
  private let continuation: AsyncStream<String>.Continuation

  init() {
    (self.events, self.continuation) = AsyncStream.makeStream(of: String.self)
  }

  func record(_ event: String) { self.continuation.yield(event) }
}

/// A service registered through GRPCCore's own API (no generated code), for transport checks.
struct ProbeService: RegistrableRPCService {
  static let echo = MethodDescriptor(fullyQualifiedService: "probe.Probe", method: "Echo")
  static let hold = MethodDescriptor(fullyQualifiedService: "probe.Probe", method: "Hold")
  static let flood = MethodDescriptor(fullyQualifiedService: "probe.Probe", method: "Flood")
  static let fail = MethodDescriptor(fullyQualifiedService: "probe.Probe", method: "Fail")
  static let whereAmI = MethodDescriptor(fullyQualifiedService: "probe.Probe", method: "WhereAmI")

  let log: CancellationLog

  init(log: CancellationLog = CancellationLog()) {
    self.log = log
  }

  func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    let bytes = BytesSerializer()
    // Echo: every request message back, then OK with the request metadata's "echo-*" keys.
    router.registerHandler(forMethod: Self.echo, deserializer: bytes, serializer: bytes) { request, _ in
      StreamingServerResponse(metadata: [:]) { writer in
        for try await message in request.messages {
          try await writer.write(message)
        }
        var trailers: Metadata = [:]
        for (key, value) in request.metadata where key.hasPrefix("echo-") {
          switch value {
          case .string(let string): trailers.addString(string, forKey: key)
          case .binary(let binary): trailers.addBinary(binary, forKey: key)
          }
        }
        return trailers
      }
    }
    // Hold: sends one message, then waits for the RPC to be cancelled (by the peer or the
    // deadline), logs it and ends with CANCELLED.
    let log = self.log
    router.registerHandler(forMethod: Self.hold, deserializer: bytes, serializer: bytes) { request, context in
      StreamingServerResponse(metadata: ["held": "yes"]) { writer in
        // Logged however the handler ends: the cancellation may come before the first write.
        defer {
          log.record("cancelled " + (request.metadata[stringValues: "probe-id"].first(where: { _ in true }) ?? ""))
        }
        try await writer.write([1])
        _ = try? await context.cancellation.cancelled
        throw RPCError(code: .cancelled, message: "Held until cancelled")
      }
    }
    // Flood: request is [count (UInt32 BE), size (UInt32 BE)]; responds with count messages.
    router.registerHandler(forMethod: Self.flood, deserializer: bytes, serializer: bytes) { request, _ in
      StreamingServerResponse { writer in
        var count = 0
        var size = 0
        for try await message in request.messages where message.count == 8 {
          count = message[0..<4].reduce(0) { $0 << 8 | Int($1) }
          size = message[4..<8].reduce(0) { $0 << 8 | Int($1) }
        }
        let payload = [UInt8](repeating: 7, count: size)
        for _ in 0..<count { try await writer.write(payload) }
        return [:]
      }
    }
    // WhereAmI: [1] when the handler runs on a NIO event loop, [0] otherwise.
    router.registerHandler(forMethod: Self.whereAmI, deserializer: bytes, serializer: bytes) { request, _ in
      for try await _ in request.messages {}
      return StreamingServerResponse(single: ServerResponse(message: [MultiThreadedEventLoopGroup.currentEventLoop == nil ? 0 : 1]))
    }
    // Fail: fails with the code in the first request byte and the rest as the message (UTF-8).
    router.registerHandler(forMethod: Self.fail, deserializer: bytes, serializer: bytes) { request, _ in
      var first: [UInt8] = []
      for try await message in request.messages {
        first = message
        break
      }
      let code = RPCError.Code(Status.Code(rawValue: Int(first.first ?? 2)) ?? .unknown) ?? .unknown
      throw RPCError(
        code: code,
        message: String(decoding: first.dropFirst(), as: UTF8.self),
        metadata: ["detail-bin": .binary([0, 1, 2, 255])]
      )
    }
  }
}

func floodRequest(count: Int, size: Int) -> [UInt8] {
  let c = UInt32(count)
  let s = UInt32(size)
  return [UInt8(c >> 24), UInt8(c >> 16 & 0xFF), UInt8(c >> 8 & 0xFF), UInt8(c & 0xFF),
          UInt8(s >> 24), UInt8(s >> 16 & 0xFF), UInt8(s >> 8 & 0xFF), UInt8(s & 0xFF)]
}

/// Runs `body` with a server on a free loopback port.
func withTestServer<R: Sendable>(
  services: [any RegistrableRPCService],
  config: NGHTTP2ServerTransport.Config = .defaults,
  _ body: (NGHTTP2ServerTransport, Int) async throws -> R
) async throws -> R {
  let transport = NGHTTP2ServerTransport(address: .init(host: "127.0.0.1", port: 0), config: config)
  return try await withGRPCServer(transport: transport, services: services) { _ in
    let port: Int
    do {
      port = try await transport.listeningAddress.port
    } catch {
      Issue.record("the nghttp2 test server failed to start: \(error)")
      throw error
    }
    return try await body(transport, port)
  }
}

/// Runs `body` with a client of our transport connected to `port`.
func withTestClient<R: Sendable>(
  port: Int,
  config: NGHTTP2ClientTransport.Config = .defaults,
  _ body: (GRPCClient<NGHTTP2ClientTransport>) async throws -> R
) async throws -> R {
  let transport = try NGHTTP2ClientTransport(target: .init(host: "127.0.0.1", port: port), config: config)
  // `withGRPCClient`, except for one race: a body that ends at once (calls failing fast with
  // UNAVAILABLE) shuts the client down before the task running its connections has started, and
  // GRPCCore then reports `clientIsStopped` from that task. There was nothing left to run.
  let client = GRPCClient(transport: transport)
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask {
      do {
        try await client.runConnections()
      } catch let error as RuntimeError where error.code == .clientIsStopped {
        return
      }
    }
    do {
      let result = try await body(client)
      client.beginGracefulShutdown()
      try await group.waitForAll()
      return result
    } catch {
      client.beginGracefulShutdown()
      try? await group.waitForAll()
      throw error
    }
  }
}

/// Unary echo over the probe service: the server is serving.
func echoRoundTrip(port: Int, _ bytes: [UInt8] = [1, 2, 3]) async throws -> [UInt8] {
  try await withTestClient(port: port) { client in try await echoCall(client, bytes) }
}

/// One unary Echo call on `client`.
func echoCall(
  _ client: GRPCClient<NGHTTP2ClientTransport>,
  _ bytes: [UInt8] = [1, 2, 3],
  options: CallOptions = .defaults
) async throws -> [UInt8] {
  try await client.unary(
    request: ClientRequest(message: bytes),
    descriptor: ProbeService.echo,
    serializer: BytesSerializer(),
    deserializer: BytesSerializer(),
    options: options
  ) { try $0.message }
}

/// One Flood call on `client` asking for `count` messages of `size` bytes, read to the end.
func floodCall(_ client: GRPCClient<NGHTTP2ClientTransport>, count: Int, size: Int) async throws {
  try await client.serverStreaming(
    request: ClientRequest(message: floodRequest(count: count, size: size)),
    descriptor: ProbeService.flood,
    serializer: BytesSerializer(),
    deserializer: BytesSerializer(),
    options: .defaults
  ) { response in for try await _ in response.messages {} }
}

/// A free port with nothing listening on it (bound, then released).
func unusedPort() async throws -> Int {
  let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .bind(host: "127.0.0.1", port: 0).get()
  let port = channel.localAddress!.port!
  try await channel.close()
  return port
}
