import NIOCore

struct ListOffsetsRequest: KafkaRequest {
    typealias Response = ListOffsetsResponse
    static let apiKey = KafkaAPIKey.listOffsets

    /// Topic to (partition, timestamp) pairs; timestamp -2 is earliest, -1 is latest.
    var topics: [(String, [(Int32, Int64)])]

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Int32(-1))
        buffer.writeInteger(Int8(0))
        buffer.writeCompactArray(topics) { b, topic in
            b.writeCompactString(topic.0)
            b.writeCompactArray(topic.1) { b, p in
                b.writeInteger(p.0)
                b.writeInteger(Int32(-1))
                b.writeInteger(p.1)
                b.writeEmptyTaggedFields()
            }
            b.writeEmptyTaggedFields()
        }
        buffer.writeEmptyTaggedFields()
    }
}

struct ListOffsetsResponse: KafkaResponse {
    struct PartitionOffset: Sendable {
        var topic: String
        var partition: Int32
        var errorCode: KafkaErrorCode
        var offset: Int64
    }

    var partitions: [PartitionOffset]

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        let topics = try reader.compactArray("Topics") { r -> [PartitionOffset] in
            let name = try r.compactString("Name")
            let parts = try r.compactArray("Partitions") { p in
                let index = try p.int32("PartitionIndex")
                let code = KafkaErrorCode(try p.int16("ErrorCode"))
                _ = try p.int64("Timestamp")
                let offset = try p.int64("Offset")
                _ = try p.int32("LeaderEpoch")
                try p.taggedFields()
                return PartitionOffset(topic: name, partition: index, errorCode: code, offset: offset)
            }
            try r.taggedFields()
            return parts
        }
        partitions = topics.flatMap { $0 }
        try reader.taggedFields()
    }
}
