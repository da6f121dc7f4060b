import NIOCore

struct FetchRequest: KafkaRequest {
    typealias Response = FetchResponse
    static let apiKey = KafkaAPIKey.fetch

    struct Partition: Sendable {
        var partition: Int32
        var fetchOffset: Int64
        var partitionMaxBytes: Int32
    }

    var maxWaitMs: Int32
    var minBytes: Int32
    var maxBytes: Int32
    var topics: [(String, [Partition])]

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Int32(-1))  // replica id
        buffer.writeInteger(maxWaitMs)
        buffer.writeInteger(minBytes)
        buffer.writeInteger(maxBytes)
        buffer.writeInteger(Int8(0))  // read uncommitted
        buffer.writeInteger(Int32(0))  // session id: no fetch session
        buffer.writeInteger(Int32(-1))  // session epoch: full fetch, no session
        buffer.writeCompactArray(topics) { b, topic in
            b.writeCompactString(topic.0)
            b.writeCompactArray(topic.1) { b, p in
                b.writeInteger(p.partition)
                b.writeInteger(Int32(-1))  // current leader epoch
                b.writeInteger(p.fetchOffset)
                b.writeInteger(Int32(-1))  // last fetched epoch
                b.writeInteger(Int64(-1))  // log start offset
                b.writeInteger(p.partitionMaxBytes)
                b.writeEmptyTaggedFields()
            }
            b.writeEmptyTaggedFields()
        }
        buffer.writeCompactArrayCount(0)  // forgotten topics
        buffer.writeCompactString("")  // rack id
        buffer.writeEmptyTaggedFields()
    }
}

struct FetchResponse: KafkaResponse {
    struct PartitionData: Sendable {
        var topic: String
        var partition: Int32
        var errorCode: KafkaErrorCode
        var highWatermark: Int64
        var records: ByteBuffer?
    }

    var errorCode: KafkaErrorCode
    var partitions: [PartitionData] = []

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        errorCode = KafkaErrorCode(try reader.int16("ErrorCode"))
        _ = try reader.int32("SessionId")
        let topics = try reader.compactArray("Responses") { r -> [PartitionData] in
            let topic = try r.compactString("Topic")
            let parts = try r.compactArray("Partitions") { p in
                let index = try p.int32("PartitionIndex")
                let code = KafkaErrorCode(try p.int16("ErrorCode"))
                let hw = try p.int64("HighWatermark")
                _ = try p.int64("LastStableOffset")
                _ = try p.int64("LogStartOffset")
                _ = try p.compactArray("AbortedTransactions") { a in
                    _ = try a.int64("ProducerId")
                    _ = try a.int64("FirstOffset")
                    try a.taggedFields()
                }
                _ = try p.int32("PreferredReadReplica")
                let records = try p.compactNullableBytes("Records")
                try p.taggedFields()
                return PartitionData(topic: topic, partition: index, errorCode: code, highWatermark: hw, records: records)
            }
            try r.taggedFields()
            return parts
        }
        partitions = topics.flatMap { $0 }
        try reader.taggedFields()
    }
}
