import NIOCore

struct OffsetFetchRequest: KafkaRequest {
    typealias Response = OffsetFetchResponse
    static let apiKey = KafkaAPIKey.offsetFetch
    var groupId: String
    var partitions: [TopicPartition]

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactString(groupId)
        let byTopic = Dictionary(grouping: partitions.sorted(), by: \.topic).sorted { $0.key < $1.key }
        buffer.writeCompactArray(byTopic) { b, topic in
            b.writeCompactString(topic.key)
            b.writeCompactInt32Array(topic.value.map(\.partition))
            b.writeEmptyTaggedFields()
        }
        buffer.writeEmptyTaggedFields()
    }
}

struct OffsetFetchResponse: KafkaResponse {
    var errorCode: KafkaErrorCode
    /// Committed offsets; -1 means none.
    var offsets: [TopicPartition: (offset: Int64, errorCode: KafkaErrorCode)] = [:]

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        let topics = try reader.compactArray("Topics") { r -> [(TopicPartition, Int64, KafkaErrorCode)] in
            let name = try r.compactString("Name")
            let parts = try r.compactArray("Partitions") { p -> (TopicPartition, Int64, KafkaErrorCode) in
                let index = try p.int32("PartitionIndex")
                let offset = try p.int64("CommittedOffset")
                _ = try p.int32("CommittedLeaderEpoch")
                _ = try p.compactNullableString("Metadata")
                let code = KafkaErrorCode(try p.int16("ErrorCode"))
                try p.taggedFields()
                return (TopicPartition(name, index), offset, code)
            }
            try r.taggedFields()
            return parts
        }
        for (tp, offset, code) in topics.flatMap({ $0 }) { offsets[tp] = (offset, code) }
        errorCode = KafkaErrorCode(try reader.int16("ErrorCode"))
        try reader.taggedFields()
    }
}
