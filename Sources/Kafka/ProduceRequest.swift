import NIOCore

struct ProduceRequest: KafkaRequest {
    typealias Response = ProduceResponse
    static let apiKey = KafkaAPIKey.produce

    struct PartitionData: Sendable {
        var partition: Int32
        var records: ByteBuffer
    }

    var acks: Int16
    var timeoutMs: Int32
    /// Topic name to its partitions' batches.
    var topics: [(String, [PartitionData])]

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeKafkaUVarint(0)  // transactional id: null
        buffer.writeInteger(acks)
        buffer.writeInteger(timeoutMs)
        buffer.writeCompactArray(topics) { b, topic in
            b.writeCompactString(topic.0)
            b.writeCompactArray(topic.1) { b, data in
                b.writeInteger(data.partition)
                b.writeCompactBytes(data.records)
                b.writeEmptyTaggedFields()
            }
            b.writeEmptyTaggedFields()
        }
        buffer.writeEmptyTaggedFields()
    }
}

struct ProduceResponse: KafkaResponse {
    struct PartitionResult: Sendable {
        var partition: Int32
        var errorCode: KafkaErrorCode
        var baseOffset: Int64
        var errorMessage: String?
    }

    var topics: [String: [PartitionResult]] = [:]

    init(from reader: inout KafkaReader, version: Int16) throws {
        let entries = try reader.compactArray("Responses") { r -> (String, [PartitionResult]) in
            let name = try r.compactString("Name")
            let partitions = try r.compactArray("PartitionResponses") { p in
                let index = try p.int32("Index")
                let code = KafkaErrorCode(try p.int16("ErrorCode"))
                let base = try p.int64("BaseOffset")
                _ = try p.int64("LogAppendTimeMs")
                _ = try p.int64("LogStartOffset")
                _ = try p.compactArray("RecordErrors") { e in
                    _ = try e.int32("BatchIndex")
                    _ = try e.compactNullableString("BatchIndexErrorMessage")
                    try e.taggedFields()
                }
                let message = try p.compactNullableString("ErrorMessage")
                try p.taggedFields()
                return PartitionResult(partition: index, errorCode: code, baseOffset: base, errorMessage: message)
            }
            try r.taggedFields()
            return (name, partitions)
        }
        for (name, partitions) in entries { topics[name, default: []].append(contentsOf: partitions) }
        _ = try reader.int32("ThrottleTimeMs")
        try reader.taggedFields()
    }
}
