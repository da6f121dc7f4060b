import NIOCore

struct ApiVersionsRequest: KafkaRequest {
    typealias Response = ApiVersionsResponse
    static let apiKey = KafkaAPIKey.apiVersions
    var apiVersion: Int16 = 3
    var clientSoftwareName = "courier-kafka"
    var clientSoftwareVersion = "1.0.0"

    func encode(into buffer: inout ByteBuffer) {
        guard apiVersion >= 3 else { return }
        buffer.writeCompactString(clientSoftwareName)
        buffer.writeCompactString(clientSoftwareVersion)
        buffer.writeEmptyTaggedFields()
    }
}

struct ApiVersionsResponse: KafkaResponse {
    struct Range: Sendable, Hashable {
        var min: Int16
        var max: Int16
    }

    var errorCode: KafkaErrorCode
    var apiKeys: [Int16: Range]

    init(errorCode: KafkaErrorCode, apiKeys: [Int16: Range]) {
        self.errorCode = errorCode
        self.apiKeys = apiKeys
    }

    init(from reader: inout KafkaReader, version: Int16) throws {
        errorCode = KafkaErrorCode(try reader.int16("ErrorCode"))
        apiKeys = [:]
        // A broker that does not know the requested version answers UNSUPPORTED_VERSION in a v0
        // body; the client then asks again with v0.
        if errorCode == .unsupportedVersion && version >= 3 { return }
        if version >= 3 {
            let entries = try reader.compactArray("ApiKeys") { r -> (Int16, Range) in
                let key = try r.int16("ApiKey")
                let range = Range(min: try r.int16("MinVersion"), max: try r.int16("MaxVersion"))
                try r.taggedFields()
                return (key, range)
            }
            for (key, range) in entries { apiKeys[key] = range }
            _ = try reader.int32("ThrottleTimeMs")
            try reader.taggedFields()
        } else {
            let entries = try reader.array("ApiKeys") { r -> (Int16, Range) in
                (try r.int16("ApiKey"), Range(min: try r.int16("MinVersion"), max: try r.int16("MaxVersion")))
            }
            for (key, range) in entries { apiKeys[key] = range }
        }
    }

    /// Throws `KafkaError.unsupportedVersion` naming the first API whose needed version the broker
    /// does not offer.
    func checkSupported(_ apis: [KafkaAPIKey] = KafkaAPIKey.allCases) throws {
        for api in apis where api != .apiVersions {
            guard let range = apiKeys[api.rawValue] else {
                throw KafkaError.unsupportedVersion(api: api.description, needed: api.version, brokerMin: nil, brokerMax: nil)
            }
            guard range.min <= api.version, api.version <= range.max else {
                throw KafkaError.unsupportedVersion(api: api.description, needed: api.version, brokerMin: range.min, brokerMax: range.max)
            }
        }
    }
}
