import NIOCore

/// The embedded consumer protocol (version 0, never flexible) carried in JoinGroup metadata and
/// SyncGroup assignments.
enum ConsumerProtocol {
    struct Subscription: Sendable, Equatable {
        var topics: [String]
        /// Partitions the member owns now (subscription v1), used by the sticky assignor.
        var ownedPartitions: [TopicPartition] = []
    }

    /// Subscription version 1: topics, user data (null), owned partitions.
    static func encodeSubscription(topics: [String], ownedPartitions: [TopicPartition] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(1))
        buffer.writeInteger(Int32(topics.count))
        for topic in topics { buffer.writeKafkaString(topic) }
        buffer.writeKafkaBytes(nil)
        writeTopicPartitions(ownedPartitions, into: &buffer)
        return buffer
    }

    static func decodeSubscription(_ data: ByteBuffer) throws -> Subscription {
        var reader = KafkaReader(data, context: "ConsumerProtocolSubscription")
        let version = try reader.int16("Version")
        let topics = try reader.array("Topics") { try $0.string("Topic") ?? "" }
        var owned: [TopicPartition] = []
        if version >= 1 && reader.remaining > 0 {
            _ = try reader.bytes("UserData")
            owned = try readTopicPartitions(&reader, "OwnedPartitions")
        }
        return Subscription(topics: topics, ownedPartitions: owned)
    }

    private static func writeTopicPartitions(_ partitions: [TopicPartition], into buffer: inout ByteBuffer) {
        let byTopic = Dictionary(grouping: partitions.sorted(), by: \.topic).sorted { $0.key < $1.key }
        buffer.writeInteger(Int32(byTopic.count))
        for (topic, tps) in byTopic {
            buffer.writeKafkaString(topic)
            buffer.writeInteger(Int32(tps.count))
            for tp in tps { buffer.writeInteger(tp.partition) }
        }
    }

    private static func readTopicPartitions(_ reader: inout KafkaReader, _ field: String) throws -> [TopicPartition] {
        let topics = try reader.array(field) { r -> [TopicPartition] in
            let topic = try r.string("Topic") ?? ""
            return try r.array("Partitions") { TopicPartition(topic, try $0.int32("Partition")) }
        }
        return topics.flatMap { $0 }
    }

    /// Always encodes a full assignment, even an empty one (Tansu counts only non-empty bytes).
    static func encodeAssignment(_ partitions: [TopicPartition]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        writeTopicPartitions(partitions, into: &buffer)
        buffer.writeKafkaBytes(nil)
        return buffer
    }

    static func decodeAssignment(_ data: ByteBuffer) throws -> [TopicPartition] {
        if data.readableBytes == 0 { return [] }
        var reader = KafkaReader(data, context: "ConsumerProtocolAssignment")
        _ = try reader.int16("Version")
        return try readTopicPartitions(&reader, "AssignedPartitions")
    }
}
