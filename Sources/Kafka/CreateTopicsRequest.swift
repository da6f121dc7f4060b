import NIOCore

struct CreateTopicsRequest: KafkaRequest {
    typealias Response = CreateTopicsResponse
    static let apiKey = KafkaAPIKey.createTopics

    struct Topic: Sendable {
        var name: String
        var partitions: Int32
        var replicationFactor: Int16
        var configs: [String: String]
    }

    var topics: [Topic]
    var timeoutMs: Int32

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactArray(topics) { b, topic in
            b.writeCompactString(topic.name)
            b.writeInteger(topic.partitions)
            b.writeInteger(topic.replicationFactor)
            b.writeCompactArrayCount(0)  // assignments
            b.writeCompactArray(topic.configs.sorted { $0.key < $1.key }) { b, config in
                b.writeCompactString(config.key)
                b.writeCompactNullableString(config.value)
                b.writeEmptyTaggedFields()
            }
            b.writeEmptyTaggedFields()
        }
        buffer.writeInteger(timeoutMs)
        buffer.writeKafkaBool(false)
        buffer.writeEmptyTaggedFields()
    }
}

struct CreateTopicsResponse: KafkaResponse {
    struct Result: Sendable {
        var name: String
        var errorCode: KafkaErrorCode
        var errorMessage: String?
        var partitions: Int32
    }

    var topics: [Result]

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        topics = try reader.compactArray("Topics") { r in
            let name = try r.compactString("Name")
            let code = KafkaErrorCode(try r.int16("ErrorCode"))
            let message = try r.compactNullableString("ErrorMessage")
            let partitions = try r.int32("NumPartitions")
            _ = try r.int16("ReplicationFactor")
            _ = try r.compactArray("Configs") { c in
                _ = try c.compactString("Name")
                _ = try c.compactNullableString("Value")
                _ = try c.bool("ReadOnly")
                _ = try c.int8("ConfigSource")
                _ = try c.bool("IsSensitive")
                try c.taggedFields()
            }
            try r.taggedFields()
            return Result(name: name, errorCode: code, errorMessage: message, partitions: partitions)
        }
        try reader.taggedFields()
    }
}
