import NIOCore

struct LeaveGroupRequest: KafkaRequest {
    typealias Response = ErrorCodeResponse
    static let apiKey = KafkaAPIKey.leaveGroup
    var groupId: String
    var memberId: String

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactString(groupId)
        buffer.writeCompactArrayCount(1)
        buffer.writeCompactString(memberId)
        buffer.writeCompactNullableString(nil)
        buffer.writeEmptyTaggedFields()
        buffer.writeEmptyTaggedFields()
    }
}
