import NIOCore
import NIOPosix
import Synchronization

@testable import Kafka

/// A loopback TCP server that speaks just enough Kafka to get a client connected (ApiVersions,
/// Metadata) and then answers as a scenario says: truncated, oversized or corrupt frames, closing
/// mid-request, unknown error codes. Used only by the bad-input tests.
final class MisbehavingBroker: Sendable {
    enum Reply: Sendable {
        /// A response body after the correlation id (the response header tags are added for
        /// non-ApiVersions requests).
        case body(ByteBuffer)
        /// Exactly these bytes on the wire.
        case raw(ByteBuffer)
        /// These bytes, then close the connection.
        case rawThenClose(ByteBuffer)
        case close
        case silence
    }

    typealias Scenario = @Sendable (_ apiKey: Int16, _ correlationId: Int32) -> Reply

    let channel: any Channel
    var port: Int { channel.localAddress!.port! }
    var configuration: KafkaConfiguration {
        var c = KafkaConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: port)])
        c.maxRetries = 0
        // Long enough that a machine busy with the whole suite never turns an expected close or
        // bad frame into a timeout; a real hang still ends, as requestTimedOut.
        c.requestTimeout = .seconds(60)
        c.maxResponseBytes = 1024 * 1024
        return c
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start(_ scenario: @escaping Scenario) async throws -> MisbehavingBroker {
        let portBox = PortBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: 1 << 20)))
                    try child.pipeline.syncOperations.addHandler(Handler(scenario: scenario, port: portBox))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        portBox.set(Int32(channel.localAddress!.port!))
        return MisbehavingBroker(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    final class PortBox: Sendable {
        private let value = Mutex<Int32>(0)
        func set(_ v: Int32) { value.withLock { $0 = v } }
        func get() -> Int32 { value.withLock { $0 } }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let scenario: Scenario
        let port: PortBox

        init(scenario: @escaping Scenario, port: PortBox) {
            self.scenario = scenario
            self.port = port
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var frame = unwrapInboundIn(data)
            // The decoder hands over the frame after its size; the correlation id comes after
            // api key and version.
            guard let apiKey = frame.readInteger(as: Int16.self), frame.readInteger(as: Int16.self) != nil,
                let correlationId = frame.readInteger(as: Int32.self)
            else { return }
            var reply = scenario(apiKey, correlationId)
            if case .silence = reply, apiKey == KafkaAPIKey.apiVersions.rawValue { reply = .body(MisbehavingBroker.apiVersionsBody()) }
            if case .silence = reply, apiKey == KafkaAPIKey.metadata.rawValue { reply = .body(MisbehavingBroker.metadataBody(port: port.get())) }
            switch reply {
            case .body(let body):
                var out = context.channel.allocator.buffer(capacity: body.readableBytes + 16)
                out.writeInteger(Int32(0))
                out.writeInteger(correlationId)
                if apiKey != KafkaAPIKey.apiVersions.rawValue { out.writeEmptyTaggedFields() }
                out.writeImmutableBuffer(body)
                out.setInteger(Int32(out.readableBytes - 4), at: 0)
                context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            case .raw(let bytes):
                context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            case .rawThenClose(let bytes):
                context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
                context.close(promise: nil)
            case .close:
                context.close(promise: nil)
            case .silence:
                break
            }
        }
    }

    static func apiVersionsBody() -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(Int16(0))
        b.writeCompactArray(KafkaAPIKey.allCases) { b, key in
            b.writeInteger(key.rawValue)
            b.writeInteger(Int16(0))
            b.writeInteger(key.version)
            b.writeEmptyTaggedFields()
        }
        b.writeInteger(Int32(0))
        b.writeEmptyTaggedFields()
        return b
    }

    /// One broker (node 1, this server) and topic "t" with one partition led by node 1.
    static func metadataBody(port: Int32) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(Int32(0))
        b.writeCompactArrayCount(1)
        b.writeInteger(Int32(1))
        b.writeCompactString("127.0.0.1")
        b.writeInteger(port)
        b.writeCompactNullableString(nil)
        b.writeEmptyTaggedFields()
        b.writeCompactNullableString("fake")
        b.writeInteger(Int32(1))
        b.writeCompactArrayCount(1)
        b.writeInteger(Int16(0))
        b.writeCompactString("t")
        b.writeKafkaBool(false)
        b.writeCompactArrayCount(1)
        b.writeInteger(Int16(0))
        b.writeInteger(Int32(0))
        b.writeInteger(Int32(1))
        b.writeInteger(Int32(0))
        b.writeCompactInt32Array([1])
        b.writeCompactInt32Array([1])
        b.writeCompactInt32Array([])
        b.writeEmptyTaggedFields()
        b.writeInteger(Int32(0))
        b.writeEmptyTaggedFields()
        b.writeInteger(Int32(0))
        b.writeEmptyTaggedFields()
        return b
    }

    /// A Fetch v12 response for t/0 carrying `records`.
    static func fetchBody(records: ByteBuffer) -> ByteBuffer {
        var b = ByteBuffer()
        b.writeInteger(Int32(0))
        b.writeInteger(Int16(0))
        b.writeInteger(Int32(0))
        b.writeCompactArrayCount(1)
        b.writeCompactString("t")
        b.writeCompactArrayCount(1)
        b.writeInteger(Int32(0))
        b.writeInteger(Int16(0))
        b.writeInteger(Int64(2))
        b.writeInteger(Int64(2))
        b.writeInteger(Int64(0))
        b.writeKafkaUVarint(0)  // aborted: null
        b.writeInteger(Int32(-1))
        b.writeCompactBytes(records)
        b.writeEmptyTaggedFields()
        b.writeEmptyTaggedFields()
        b.writeEmptyTaggedFields()
        return b
    }
}
