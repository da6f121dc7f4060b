import NIOCore

/// Decodes the `Records` bytes of a fetched partition: a sequence of RecordBatch v2. Verifies each
/// batch's CRC32C, skips control batches and records below the fetch offset, rejects compressed
/// batches, and ignores a truncated batch at the end (the broker cuts at the byte limit).
enum RecordBatchDecoder {
    struct Result {
        var records: [ConsumerRecord] = []
        /// The offset after the last complete batch, or nil when no complete batch was present.
        var nextOffset: Int64?
    }

    static func decode(_ data: ByteBuffer, topic: String, partition: Int32, fetchOffset: Int64) throws -> Result {
        var result = Result()
        var buffer = data
        let context = "record batch \(topic)/\(partition)"
        while buffer.readableBytes >= 17 {
            let start = buffer.readerIndex
            let baseOffset: Int64 = buffer.getInteger(at: start)!
            let batchLength = Int(buffer.getInteger(at: start + 8, as: Int32.self)!)
            guard batchLength >= 0 else { throw KafkaError.malformedFrame("\(context): negative batch length at offset \(baseOffset)") }
            guard buffer.readableBytes >= 12 + batchLength else { break }  // truncated trailing batch
            let magic: Int8 = buffer.getInteger(at: start + 16)!
            guard magic == 2 else { throw KafkaError.unsupportedMagic(topic: topic, partition: partition, baseOffset: baseOffset, magic: magic) }
            guard batchLength >= RecordBatchBuilder.headerSize - 12 else {
                throw KafkaError.malformedFrame("\(context): batch at offset \(baseOffset) is shorter than its header")
            }
            let expectedCRC: UInt32 = buffer.getInteger(at: start + 17)!
            let actualCRC = buffer.withUnsafeReadableBytes { bytes in
                CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[21..<(12 + batchLength)]))
            }
            guard expectedCRC == actualCRC else {
                throw KafkaError.corruptBatch(topic: topic, partition: partition, baseOffset: baseOffset, expectedCRC: expectedCRC, actualCRC: actualCRC)
            }
            let attributes: Int16 = buffer.getInteger(at: start + 21)!
            let lastOffsetDelta: Int32 = buffer.getInteger(at: start + 23)!
            let baseTimestamp: Int64 = buffer.getInteger(at: start + 27)!
            let count: Int32 = buffer.getInteger(at: start + 57)!
            let batch = buffer.getSlice(at: start + RecordBatchBuilder.headerSize, length: 12 + batchLength - RecordBatchBuilder.headerSize)!
            buffer.moveReaderIndex(forwardBy: 12 + batchLength)
            result.nextOffset = baseOffset + Int64(lastOffsetDelta) + 1

            let isControl = attributes & 0x20 != 0
            if isControl { continue }
            let codec = Int(attributes & 0x07)
            guard codec == 0 else {
                throw KafkaError.unsupportedCompression(topic: topic, partition: partition, baseOffset: baseOffset, codec: codec)
            }
            var reader = KafkaReader(batch, context: context)
            for _ in 0..<max(count, 0) {
                let length = Int(try reader.varint("record length"))
                guard length >= 0, length <= reader.remaining, let slice = reader.buffer.readSlice(length: length) else {
                    throw KafkaError.truncatedResponse(context: context, field: "record at batch offset \(baseOffset)")
                }
                var r = KafkaReader(slice, context: context)
                _ = try r.int8("record attributes")
                let timestampDelta = try r.varlong("timestamp delta")
                let offsetDelta = try r.varint("offset delta")
                let key = try readBytes(&r, "key")
                let value = try readBytes(&r, "value")
                let headerCount = Int(try r.varint("header count"))
                guard headerCount >= 0, headerCount <= r.remaining else { throw KafkaError.malformedFrame("\(context): bad header count") }
                var headers: [KafkaHeader] = []
                headers.reserveCapacity(headerCount)
                for _ in 0..<headerCount {
                    guard let keyBytes = try readBytes(&r, "header key") else {
                        throw KafkaError.malformedFrame("\(context): null header key")
                    }
                    headers.append(KafkaHeader(key: String(decoding: keyBytes, as: UTF8.self), value: try readBytes(&r, "header value")))
                }
                let offset = baseOffset + Int64(offsetDelta)
                if offset < fetchOffset { continue }
                result.records.append(
                    ConsumerRecord(topic: topic, partition: partition, offset: offset, timestamp: baseTimestamp + timestampDelta, key: key, value: value, headers: headers)
                )
            }
        }
        return result
    }

    @inline(__always)
    private static func readBytes(_ reader: inout KafkaReader, _ field: String) throws -> [UInt8]? {
        let n = Int(try reader.varint(field))
        if n < 0 { return nil }
        guard n <= reader.remaining, let bytes = reader.buffer.readBytes(length: n) else {
            throw KafkaError.truncatedResponse(context: reader.context, field: field)
        }
        return bytes
    }
}
