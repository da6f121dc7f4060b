import NIOCore

struct MetadataRequest: KafkaRequest {
    typealias Response = MetadataResponse
    static let apiKey = KafkaAPIKey.metadata
    /// nil asks for all topics.
    var topics: [String]?
    var allowAutoTopicCreation = false

    func encode(into buffer: inout ByteBuffer) {
        if let topics {
            buffer.writeCompactArray(topics) { b, name in
                b.writeCompactString(name)
                b.writeEmptyTaggedFields()
            }
        } else {
            buffer.writeKafkaUVarint(0)
        }
        buffer.writeKafkaBool(allowAutoTopicCreation)
        buffer.writeKafkaBool(false)
        buffer.writeKafkaBool(false)
        buffer.writeEmptyTaggedFields()
    }
}

struct MetadataResponse: KafkaResponse {
    struct Broker: Sendable, Hashable {
        var nodeId: Int32
        var host: String
        var port: Int32
    }

    struct Partition: Sendable, Hashable {
        var errorCode: KafkaErrorCode
        var index: Int32
        var leaderId: Int32
        var leaderEpoch: Int32
    }

    struct Topic: Sendable, Hashable {
        var errorCode: KafkaErrorCode
        var name: String
        var partitions: [Partition]
    }

    var brokers: [Broker]
    var clusterId: String?
    var controllerId: Int32
    var topics: [Topic]

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        brokers = try reader.compactArray("Brokers") { r in
            let broker = Broker(nodeId: try r.int32("NodeId"), host: try r.compactString("Host"), port: try r.int32("Port"))
            _ = try r.compactNullableString("Rack")
            try r.taggedFields()
            return broker
        }
        clusterId = try reader.compactNullableString("ClusterId")
        controllerId = try reader.int32("ControllerId")
        topics = try reader.compactArray("Topics") { r in
            let errorCode = KafkaErrorCode(try r.int16("ErrorCode"))
            let name = try r.compactString("Name")
            _ = try r.bool("IsInternal")
            let partitions = try r.compactArray("Partitions") { p in
                let partition = Partition(
                    errorCode: KafkaErrorCode(try p.int16("ErrorCode")),
                    index: try p.int32("PartitionIndex"),
                    leaderId: try p.int32("LeaderId"),
                    leaderEpoch: try p.int32("LeaderEpoch")
                )
                _ = try p.compactArray("ReplicaNodes") { try $0.int32() }
                _ = try p.compactArray("IsrNodes") { try $0.int32() }
                _ = try p.compactArray("OfflineReplicas") { try $0.int32() }
                try p.taggedFields()
                return partition
            }
            _ = try r.int32("TopicAuthorizedOperations")
            try r.taggedFields()
            return Topic(errorCode: errorCode, name: name, partitions: partitions)
        }
        _ = try reader.int32("ClusterAuthorizedOperations")
        try reader.taggedFields()
    }
}
