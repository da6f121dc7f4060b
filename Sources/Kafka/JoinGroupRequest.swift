import NIOCore

struct JoinGroupRequest: KafkaRequest {
    typealias Response = JoinGroupResponse
    static let apiKey = KafkaAPIKey.joinGroup
    var groupId: String
    var sessionTimeoutMs: Int32
    var rebalanceTimeoutMs: Int32
    var memberId: String
    var protocols: [(name: String, metadata: ByteBuffer)]

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactString(groupId)
        buffer.writeInteger(sessionTimeoutMs)
        buffer.writeInteger(rebalanceTimeoutMs)
        buffer.writeCompactString(memberId)
        buffer.writeCompactNullableString(nil)
        buffer.writeCompactString("consumer")
        buffer.writeCompactArray(protocols) { b, p in
            b.writeCompactString(p.name)
            b.writeCompactBytes(p.metadata)
            b.writeEmptyTaggedFields()
        }
        buffer.writeEmptyTaggedFields()
    }
}

struct JoinGroupResponse: KafkaResponse {
    struct Member: Sendable {
        var memberId: String
        var metadata: ByteBuffer
    }

    var errorCode: KafkaErrorCode
    var generationId: Int32
    var protocolName: String
    var leader: String
    var memberId: String
    var members: [Member]

    init(errorCode: KafkaErrorCode, generationId: Int32, protocolName: String, leader: String, memberId: String, members: [Member]) {
        self.errorCode = errorCode
        self.generationId = generationId
        self.protocolName = protocolName
        self.leader = leader
        self.memberId = memberId
        self.members = members
    }

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        errorCode = KafkaErrorCode(try reader.int16("ErrorCode"))
        generationId = try reader.int32("GenerationId")
        protocolName = try reader.compactNullableString("ProtocolName") ?? ""
        leader = try reader.compactString("Leader")
        memberId = try reader.compactString("MemberId")
        members = try reader.compactArray("Members") { r in
            let id = try r.compactString("MemberId")
            _ = try r.compactNullableString("GroupInstanceId")
            let metadata = try r.compactBytes("Metadata")
            try r.taggedFields()
            return Member(memberId: id, metadata: metadata)
        }
        try reader.taggedFields()
    }
}
