import NIOCore

struct OffsetCommitRequest: KafkaRequest {
    typealias Response = OffsetCommitResponse
    static let apiKey = KafkaAPIKey.offsetCommit
    var groupId: String
    var generationId: Int32
    var memberId: String
    var offsets: [TopicPartition: Int64]

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactString(groupId)
        buffer.writeInteger(generationId)
        buffer.writeCompactString(memberId)
        buffer.writeCompactNullableString(nil)
        let byTopic = Dictionary(grouping: offsets.keys.sorted(), by: \.topic).sorted { $0.key < $1.key }
        buffer.writeCompactArray(byTopic) { b, topic in
            b.writeCompactString(topic.key)
            b.writeCompactArray(topic.value) { b, tp in
                b.writeInteger(tp.partition)
                b.writeInteger(offsets[tp]!)
                b.writeInteger(Int32(-1))
                b.writeCompactNullableString(nil)
                b.writeEmptyTaggedFields()
            }
            b.writeEmptyTaggedFields()
        }
        buffer.writeEmptyTaggedFields()
    }
}

struct OffsetCommitResponse: KafkaResponse {
    var results: [(TopicPartition, KafkaErrorCode)]

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        let topics = try reader.compactArray("Topics") { r -> [(TopicPartition, KafkaErrorCode)] in
            let name = try r.compactString("Name")
            let parts = try r.compactArray("Partitions") { p -> (TopicPartition, KafkaErrorCode) in
                let index = try p.int32("PartitionIndex")
                let code = KafkaErrorCode(try p.int16("ErrorCode"))
                try p.taggedFields()
                return (TopicPartition(name, index), code)
            }
            try r.taggedFields()
            return parts
        }
        results = topics.flatMap { $0 }
        try reader.taggedFields()
    }
}
