import NIOCore

/// Builds one RecordBatch v2 (magic 2, uncompressed, non-idempotent) record by record, so that the
/// producer can bound a batch by its encoded size. `finish()` fills the header and the CRC32C.
struct RecordBatchBuilder {
    static let headerSize = 61

    private(set) var buffer: ByteBuffer
    private(set) var count: Int32 = 0
    private var baseTimestamp: Int64 = 0
    private var maxTimestamp: Int64 = 0

    init(allocator: ByteBufferAllocator = ByteBufferAllocator(), capacity: Int = 16 * 1024) {
        buffer = allocator.buffer(capacity: max(capacity, Self.headerSize))
        buffer.writeRepeatingByte(0, count: Self.headerSize)
    }

    var sizeInBytes: Int { buffer.readableBytes }

    /// The encoded size of a record's body (without its length prefix), given its offset and
    /// timestamp deltas.
    static func bodySize(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], timestampDelta: Int64, offsetDelta: Int32) -> Int {
        var size = 1 + VarintSize.zigzag(timestampDelta) + VarintSize.zigzag(Int64(offsetDelta))
        size += VarintSize.zigzag(Int64(key?.count ?? -1)) + (key?.count ?? 0)
        size += VarintSize.zigzag(Int64(value?.count ?? -1)) + (value?.count ?? 0)
        size += VarintSize.zigzag(Int64(headers.count))
        for header in headers {
            let k = header.key.utf8.count
            size += VarintSize.zigzag(Int64(k)) + k
            size += VarintSize.zigzag(Int64(header.value?.count ?? -1)) + (header.value?.count ?? 0)
        }
        return size
    }

    /// An upper bound of what appending this record adds, for size-bounded batching.
    static func estimatedSize(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]) -> Int {
        bodySize(key: key, value: value, headers: headers, timestampDelta: Int64.max, offsetDelta: Int32.max) + 5
    }

    mutating func append(key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader], timestamp: Int64) {
        if count == 0 {
            baseTimestamp = timestamp
            maxTimestamp = timestamp
        } else if timestamp > maxTimestamp {
            maxTimestamp = timestamp
        }
        let timestampDelta = timestamp - baseTimestamp
        let offsetDelta = count
        let body = Self.bodySize(key: key, value: value, headers: headers, timestampDelta: timestampDelta, offsetDelta: offsetDelta)
        buffer.writeKafkaVarint(Int32(body))
        buffer.writeInteger(UInt8(0))
        buffer.writeKafkaVarlong(timestampDelta)
        buffer.writeKafkaVarint(offsetDelta)
        Self.writeBytes(key, into: &buffer)
        Self.writeBytes(value, into: &buffer)
        buffer.writeKafkaVarint(Int32(headers.count))
        for header in headers {
            buffer.writeKafkaVarint(Int32(header.key.utf8.count))
            buffer.writeString(header.key)
            Self.writeBytes(header.value, into: &buffer)
        }
        count += 1
    }

    @inline(__always)
    private static func writeBytes(_ bytes: [UInt8]?, into buffer: inout ByteBuffer) {
        if let bytes {
            buffer.writeKafkaVarint(Int32(bytes.count))
            buffer.writeBytes(bytes)
        } else {
            buffer.writeKafkaVarint(-1)
        }
    }

    /// Completes the header and CRC and returns the batch bytes.
    mutating func finish() -> ByteBuffer {
        let start = buffer.readerIndex
        buffer.setInteger(Int64(0), at: start)  // base offset, assigned by the broker
        buffer.setInteger(Int32(buffer.readableBytes - 12), at: start + 8)
        buffer.setInteger(Int32(-1), at: start + 12)  // partition leader epoch
        buffer.setInteger(Int8(2), at: start + 16)  // magic
        buffer.setInteger(Int16(0), at: start + 21)  // attributes
        buffer.setInteger(count - 1, at: start + 23)  // last offset delta
        buffer.setInteger(baseTimestamp, at: start + 27)
        buffer.setInteger(maxTimestamp, at: start + 35)
        buffer.setInteger(Int64(-1), at: start + 43)  // producer id
        buffer.setInteger(Int16(-1), at: start + 51)  // producer epoch
        buffer.setInteger(Int32(-1), at: start + 53)  // base sequence
        buffer.setInteger(count, at: start + 57)
        let crc = buffer.withUnsafeReadableBytes { bytes in
            CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[21...]))
        }
        buffer.setInteger(crc, at: start + 17)
        return buffer
    }
}
