import NIOCore

struct HeartbeatRequest: KafkaRequest {
    typealias Response = ErrorCodeResponse
    static let apiKey = KafkaAPIKey.heartbeat
    var groupId: String
    var generationId: Int32
    var memberId: String

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactString(groupId)
        buffer.writeInteger(generationId)
        buffer.writeCompactString(memberId)
        buffer.writeCompactNullableString(nil)
        buffer.writeEmptyTaggedFields()
    }
}

/// Heartbeat and LeaveGroup responses: throttle time, error code, then fields this client ignores.

struct ErrorCodeResponse: KafkaResponse {
    var errorCode: KafkaErrorCode

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        errorCode = KafkaErrorCode(try reader.int16("ErrorCode"))
    }
}
