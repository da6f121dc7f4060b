import NIOCore
import NIOPosix

/// One TCP connection to one broker. Requests may be pipelined; responses are matched by
/// correlation id.
final class KafkaConnection: Sendable {
    let channel: any Channel
    let broker: String
    let clientId: String

    private init(channel: any Channel, broker: String, clientId: String) {
        self.channel = channel
        self.broker = broker
        self.clientId = clientId
    }

    static func connect(
        host: String,
        port: Int,
        group: any EventLoopGroup,
        configuration: KafkaConfiguration
    ) async throws -> KafkaConnection {
        let broker = "\(host):\(port)"
        let maxFrame = configuration.maxResponseBytes
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.init(configuration.connectTimeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameBytes: maxFrame)))
                        try channel.pipeline.syncOperations.addHandler(KafkaConnectionHandler(broker: broker))
                    }
                }
                .connect(host: host, port: port)
                .get()
            return KafkaConnection(channel: channel, broker: broker, clientId: configuration.clientId)
        } catch {
            throw KafkaError.connectionFailed(broker: broker, reason: "\(error)")
        }
    }

    var isActive: Bool { channel.isActive }

    func send<Request: KafkaRequest>(_ request: Request, timeout: Duration) async throws -> Request.Response {
        let version = request.apiVersion
        var frame = channel.allocator.buffer(capacity: 256)
        frame.writeInteger(Int32(0))  // size, set below
        frame.writeInteger(Request.apiKey.rawValue)
        frame.writeInteger(version)
        frame.writeInteger(Int32(0))  // correlation id, set by the handler
        frame.writeKafkaString(clientId)
        if request.usesFlexibleHeader { frame.writeEmptyTaggedFields() }
        request.encode(into: &frame)
        frame.setInteger(Int32(frame.readableBytes - 4), at: frame.readerIndex)

        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let api = "\(Request.apiKey) v\(version)"
        let writePromise = channel.eventLoop.makePromise(of: Void.self)
        let broker = self.broker
        writePromise.futureResult.whenFailure { error in
            promise.fail(error as? KafkaError ?? KafkaError.connectionClosed(broker: broker))
        }
        channel.writeAndFlush(
            KafkaConnectionHandler.Request(frame: frame, promise: promise, timeout: .init(timeout), api: api),
            promise: writePromise
        )
        let body = try await promise.futureResult.get()
        var reader = KafkaReader(body, context: "\(api) response from \(broker)")
        if request.responseHeaderHasTags { try reader.taggedFields() }
        return try Request.Response(from: &reader, version: version)
    }

    func close() async {
        try? await channel.close()
    }
}
