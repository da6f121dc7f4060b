import NIOCore

struct FindCoordinatorRequest: KafkaRequest {
    typealias Response = FindCoordinatorResponse
    static let apiKey = KafkaAPIKey.findCoordinator
    var key: String

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeCompactString(key)
        buffer.writeInteger(Int8(0))  // group
        buffer.writeEmptyTaggedFields()
    }
}

struct FindCoordinatorResponse: KafkaResponse {
    var errorCode: KafkaErrorCode
    var errorMessage: String?
    var nodeId: Int32
    var host: String
    var port: Int32

    init(from reader: inout KafkaReader, version: Int16) throws {
        _ = try reader.int32("ThrottleTimeMs")
        errorCode = KafkaErrorCode(try reader.int16("ErrorCode"))
        errorMessage = try reader.compactNullableString("ErrorMessage")
        nodeId = try reader.int32("NodeId")
        host = try reader.compactString("Host")
        port = try reader.int32("Port")
        try reader.taggedFields()
    }
}
