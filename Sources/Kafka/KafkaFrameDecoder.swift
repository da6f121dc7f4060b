import NIOCore

/// Splits the inbound byte stream into size-prefixed Kafka frames, rejecting frames that are
/// negative, too short to hold a correlation id, or larger than the configured limit.
struct KafkaFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxFrameBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return .needMoreData }
        guard size >= 4 else { throw KafkaError.malformedFrame("frame size \(size) cannot hold a correlation id") }
        guard Int(size) <= maxFrameBytes else { throw KafkaError.frameTooLarge(size: Int(size), limit: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(size))!
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A partial frame at EOF is dropped; the handler fails its request as connection closed.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
