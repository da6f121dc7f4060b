import NIOCore

struct SyncGroupRequest: KafkaRequest {
    typealias Response = SyncGroupResponse
    static let apiKey = KafkaAPIKey.syncGroup
    var groupId: String
    var generationId: Int32
    var memberId: String
    var assignments: [(memberId: String, assignment: ByteBuffer)]

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactString(groupId)
        buffer.writeInteger(generationId)
        buffer.writeCompactString(memberId)
        buffer.writeCompactNullableString(nil)
        buffer.writeCompactArray(assignments) { b, a in
            b.writeCompactString(a.memberId)
            b.writeCompactBytes(a.assignment)
            b.writeEmptyTaggedFields()
        }
        buffer.writeEmptyTaggedFields()
    }
}

struct SyncGroupResponse: KafkaResponse {
    var errorCode: KafkaErrorCode
    var assignment: ByteBuffer

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        errorCode = KafkaErrorCode(try reader.int16("ErrorCode"))
        assignment = try reader.compactBytes("Assignment")
        try reader.taggedFields()
    }
}
