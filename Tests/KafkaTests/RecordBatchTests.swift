import NIOCore
import Testing

@testable import Kafka

@Suite("RecordBatch v2 and CRC32C")
struct RecordBatchTests {
    static let golden =
        "00000000000000000000004dffffffff02d7e9cd650000000000010000018bcfe568000000018bcfe56800ffffffffffffffffffffffffffff0000000224000000066b65790a76616c75650202680276100000020104763200"

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    static func goldenBatch() -> ByteBuffer {
        var builder = RecordBatchBuilder()
        builder.append(key: Array("key".utf8), value: Array("value".utf8), headers: [KafkaHeader(key: "h", value: "v")], timestamp: 1_700_000_000_000)
        builder.append(key: nil, value: Array("v2".utf8), headers: [], timestamp: 1_700_000_000_000)
        return builder.finish()
    }

    @Test("CRC32C check value")
    func crcCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // slicing-by-8 and the byte loop agree on every length around the 8-byte stride
        let data = (0..<100).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for n in 0...data.count {
            var slow: UInt32 = 0xFFFF_FFFF
            for b in data[0..<n] {
                slow ^= UInt32(b)
                for _ in 0..<8 { slow = (slow & 1) != 0 ? (slow >> 1) ^ 0x82F6_3B78 : slow >> 1 }
            }
            #expect(CRC32C.checksum(data[0..<n]) == ~slow)
        }
    }

    @Test("the builder produces the golden batch byte for byte")
    func encodesGolden() {
        #expect(Array(Self.goldenBatch().readableBytesView) == Self.hex(Self.golden))
    }

    @Test("the golden batch decodes with keys, values, headers and timestamps")
    func decodesGolden() throws {
        let result = try RecordBatchDecoder.decode(ByteBuffer(bytes: Self.hex(Self.golden)), topic: "t", partition: 0, fetchOffset: 0)
        #expect(result.nextOffset == 2)
        #expect(result.records.count == 2)
        #expect(result.records[0] == ConsumerRecord(topic: "t", partition: 0, offset: 0, timestamp: 1_700_000_000_000, key: Array("key".utf8), value: Array("value".utf8), headers: [KafkaHeader(key: "h", value: "v")]))
        #expect(result.records[1].key == nil)
        #expect(result.records[1].value == Array("v2".utf8))
        #expect(result.records[1].offset == 1)
    }

    @Test("records below the fetch offset are skipped (mid-batch fetch)")
    func skipsBelowFetchOffset() throws {
        let result = try RecordBatchDecoder.decode(ByteBuffer(bytes: Self.hex(Self.golden)), topic: "t", partition: 0, fetchOffset: 1)
        #expect(result.records.map(\.offset) == [1])
        #expect(result.nextOffset == 2)
    }

    @Test("a wrong CRC is an error, not data")
    func badCRC() throws {
        var bytes = Self.hex(Self.golden)
        bytes[bytes.count - 3] ^= 0xFF  // flip a byte of the last value
        #expect(throws: KafkaError.corruptBatch(topic: "t", partition: 3, baseOffset: 0, expectedCRC: 0xD7E9_CD65, actualCRC: CRC32C.checksum(bytes[21...]))) {
            _ = try RecordBatchDecoder.decode(ByteBuffer(bytes: bytes), topic: "t", partition: 3, fetchOffset: 0)
        }
    }

    @Test("a truncated trailing batch is ignored, complete ones are kept")
    func truncatedTrailingBatch() throws {
        var data = Self.goldenBatch()
        var second = Self.goldenBatch()
        second.setInteger(Int64(2), at: 0)
        data.writeBuffer(&second)
        let full = Array(data.readableBytesView)
        let cut = ByteBuffer(bytes: full[0..<(full.count - 10)])
        let result = try RecordBatchDecoder.decode(cut, topic: "t", partition: 0, fetchOffset: 0)
        #expect(result.records.count == 2)
        #expect(result.nextOffset == 2)
        let both = try RecordBatchDecoder.decode(ByteBuffer(bytes: full), topic: "t", partition: 0, fetchOffset: 0)
        #expect(both.records.map(\.offset) == [0, 1, 2, 3])
    }

    @Test("control batches are skipped but advance the offset")
    func controlBatchSkipped() throws {
        var bytes = Array(Self.goldenBatch().readableBytesView)
        bytes[22] |= 0x20  // control bit in attributes (low byte)
        var buffer = ByteBuffer(bytes: bytes)
        let crc = buffer.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
        buffer.setInteger(crc, at: 17)
        let result = try RecordBatchDecoder.decode(buffer, topic: "t", partition: 0, fetchOffset: 0)
        #expect(result.records.isEmpty)
        #expect(result.nextOffset == 2)
    }

    @Test("compressed batches are rejected with a clear error")
    func compressedRejected() throws {
        var bytes = Array(Self.goldenBatch().readableBytesView)
        bytes[22] |= 0x01  // gzip
        var buffer = ByteBuffer(bytes: bytes)
        let crc = buffer.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
        buffer.setInteger(crc, at: 17)
        #expect(throws: KafkaError.unsupportedCompression(topic: "t", partition: 0, baseOffset: 0, codec: 1)) {
            _ = try RecordBatchDecoder.decode(buffer, topic: "t", partition: 0, fetchOffset: 0)
        }
        #expect(KafkaError.unsupportedCompression(topic: "t", partition: 0, baseOffset: 0, codec: 1).description.contains("compress"))
    }

    @Test("a batch with another magic byte is rejected")
    func wrongMagic() throws {
        var bytes = Array(Self.goldenBatch().readableBytesView)
        bytes[16] = 1
        #expect(throws: KafkaError.unsupportedMagic(topic: "t", partition: 0, baseOffset: 0, magic: 1)) {
            _ = try RecordBatchDecoder.decode(ByteBuffer(bytes: bytes), topic: "t", partition: 0, fetchOffset: 0)
        }
    }

    @Test("a record whose length runs past its batch is an error")
    func corruptRecordLength() throws {
        var bytes = Array(Self.goldenBatch().readableBytesView)
        bytes[61] = 0x7E  // first record length 63, longer than the batch
        var buffer = ByteBuffer(bytes: bytes)
        let crc = buffer.withUnsafeReadableBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
        buffer.setInteger(crc, at: 17)
        #expect(throws: KafkaError.self) {
            _ = try RecordBatchDecoder.decode(buffer, topic: "t", partition: 0, fetchOffset: 0)
        }
    }

    @Test("large and empty values, many headers round-trip")
    func roundTrip() throws {
        var builder = RecordBatchBuilder()
        let big = [UInt8](repeating: 0xAB, count: 70_000)
        builder.append(key: [], value: big, headers: (0..<20).map { KafkaHeader(key: "k\($0)", value: $0 % 2 == 0 ? nil : [UInt8($0)]) }, timestamp: 5)
        builder.append(key: [1], value: nil, headers: [], timestamp: 3)
        let result = try RecordBatchDecoder.decode(builder.finish(), topic: "t", partition: 0, fetchOffset: 0)
        #expect(result.records.count == 2)
        #expect(result.records[0].value == big)
        #expect(result.records[0].key == [])
        #expect(result.records[0].headers.count == 20)
        #expect(result.records[0].headers[1].value == [1])
        #expect(result.records[0].headers[0].value == nil)
        #expect(result.records[1].value == nil)
        #expect(result.records[1].timestamp == 3)
    }
}

@Suite("murmur2 partitioner")
struct PartitionerTests {
    @Test("matches Kafka's Java murmur2 test vectors", arguments: [
        ("21", Int32(-973_932_308)),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
        ("", 275_646_681),
    ])
    func vectors(input: String, expected: Int32) {
        #expect(KafkaPartitioner.murmur2(Array(input.utf8)) == expected)
    }

    @Test("partition = positive(murmur2) % count, always in range")
    func partitionInRange() {
        #expect(KafkaPartitioner.partition(forKey: Array("21".utf8), partitionCount: 4) == Int32((-973_932_308 & 0x7FFF_FFFF) % 4))
        for i in 0..<500 {
            let p = KafkaPartitioner.partition(forKey: Array("key-\(i)".utf8), partitionCount: 7)
            #expect(p >= 0 && p < 7)
        }
    }
}
