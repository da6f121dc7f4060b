import NIOCore

/// Matches responses to requests by correlation id on one connection. It assigns correlation ids,
/// times out requests, drops responses nobody waits for, and fails every waiting request when the
/// connection closes or a frame is malformed.
final class KafkaConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Request
    typealias OutboundOut = ByteBuffer

    struct Request: Sendable {
        /// The framed request; bytes 8..<12 are the correlation id placeholder.
        var frame: ByteBuffer
        var promise: EventLoopPromise<ByteBuffer>
        var timeout: TimeAmount
        var api: String
    }

    private struct Pending {
        var promise: EventLoopPromise<ByteBuffer>
        var timeoutTask: Scheduled<Void>?
    }

    private let broker: String
    private var nextCorrelationId: Int32 = 1
    private var pending: [Int32: Pending] = [:]
    private var failure: KafkaError?

    init(broker: String) {
        self.broker = broker
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var request = unwrapOutboundIn(data)
        if let failure {
            request.promise.fail(failure)
            promise?.fail(failure)
            return
        }
        let id = nextCorrelationId
        nextCorrelationId = nextCorrelationId == Int32.max ? 1 : nextCorrelationId + 1
        request.frame.setInteger(id, at: request.frame.readerIndex + 8)
        let timeoutMs = Int64(request.timeout.nanoseconds / 1_000_000)
        let api = request.api
        let broker = self.broker
        let task = context.eventLoop.assumeIsolated().scheduleTask(in: request.timeout) { [weak self] in
            guard let self, let entry = self.pending.removeValue(forKey: id) else { return }
            entry.promise.fail(KafkaError.requestTimedOut(api: api, broker: broker, milliseconds: timeoutMs))
        }
        pending[id] = Pending(promise: request.promise, timeoutTask: task)
        context.write(wrapOutboundOut(request.frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let id = frame.readInteger(as: Int32.self) else { return }
        guard let entry = pending.removeValue(forKey: id) else { return }  // stale (timed out) response
        entry.timeoutTask?.cancel()
        entry.promise.succeed(frame)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed(broker: broker))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? KafkaError {
            failAll(error)
        } else {
            failAll(.connectionFailed(broker: broker, reason: "\(error)"))
        }
        context.close(promise: nil)
    }

    private func failAll(_ error: KafkaError) {
        if failure == nil { failure = error }
        let waiting = pending
        pending.removeAll()
        for (_, entry) in waiting {
            entry.timeoutTask?.cancel()
            entry.promise.fail(error)
        }
    }
}
