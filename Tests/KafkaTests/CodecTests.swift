import NIOCore
import Testing

@testable import Kafka

@Suite("Wire codec")
struct CodecTests {
    @Test("unsigned varints round-trip at the length boundaries")
    func uvarintRoundTrip() throws {
        for value: UInt32 in [0, 1, 127, 128, 300, 16383, 16384, 2_097_151, 2_097_152, UInt32.max] {
            var buffer = ByteBuffer()
            buffer.writeKafkaUVarint(value)
            #expect(buffer.readableBytes == VarintSize.unsigned(UInt64(value)))
            var reader = KafkaReader(buffer, context: "test")
            #expect(try reader.uvarint() == value)
            #expect(reader.remaining == 0)
        }
    }

    @Test("zigzag varints and varlongs round-trip, including negatives")
    func zigzag() throws {
        for value: Int32 in [0, -1, 1, -64, 63, 64, Int32.min, Int32.max] {
            var buffer = ByteBuffer()
            buffer.writeKafkaVarint(value)
            var reader = KafkaReader(buffer, context: "test")
            #expect(try reader.varint() == value)
        }
        for value: Int64 in [0, -1, 1, 1_700_000_000_000, Int64.min, Int64.max] {
            var buffer = ByteBuffer()
            buffer.writeKafkaVarlong(value)
            #expect(buffer.readableBytes == VarintSize.zigzag(value))
            var reader = KafkaReader(buffer, context: "test")
            #expect(try reader.varlong() == value)
        }
        var minusOne = ByteBuffer()
        minusOne.writeKafkaVarint(-1)
        #expect(Array(minusOne.readableBytesView) == [0x01])
    }

    @Test("compact strings, nullable strings, bytes and arrays")
    func compactTypes() throws {
        var buffer = ByteBuffer()
        buffer.writeCompactString("héllo")
        buffer.writeCompactNullableString(nil)
        buffer.writeCompactBytes(ByteBuffer(bytes: [1, 2, 3]))
        buffer.writeCompactInt32Array([7, 8])
        buffer.writeKafkaUVarint(0)  // null array
        var reader = KafkaReader(buffer, context: "test")
        #expect(try reader.compactString() == "héllo")
        #expect(try reader.compactNullableString() == nil)
        #expect(Array(try reader.compactBytes().readableBytesView) == [1, 2, 3])
        #expect(try reader.compactArray("a") { try $0.int32() } == [7, 8])
        #expect(try reader.compactArray("b") { try $0.int32() } == [])
    }

    @Test("unknown tagged fields are skipped")
    func skipsUnknownTags() throws {
        var buffer = ByteBuffer()
        buffer.writeKafkaUVarint(2)  // two tags
        buffer.writeKafkaUVarint(0)
        buffer.writeKafkaUVarint(3)
        buffer.writeBytes([9, 9, 9])
        buffer.writeKafkaUVarint(42)
        buffer.writeKafkaUVarint(1)
        buffer.writeBytes([5])
        buffer.writeInteger(Int32(77))
        var reader = KafkaReader(buffer, context: "test")
        var seen: [UInt32] = []
        try reader.taggedFields { tag, _ in seen.append(tag); return false }
        #expect(seen == [0, 42])
        #expect(try reader.int32() == 77)
    }

    @Test("a Tansu-style ApiVersions v3 response with all four tags decodes")
    func apiVersionsWithTags() throws {
        var body = ByteBuffer()
        body.writeInteger(Int16(0))
        body.writeCompactArray(KafkaAPIKey.allCases) { b, key in
            b.writeInteger(key.rawValue)
            b.writeInteger(Int16(0))
            b.writeInteger(Int16(key.version + 2))
            b.writeEmptyTaggedFields()
        }
        body.writeInteger(Int32(0))
        body.writeKafkaUVarint(4)
        for tag: UInt32 in 0..<4 {
            body.writeKafkaUVarint(tag)
            body.writeKafkaUVarint(1)
            body.writeInteger(UInt8(0))
        }
        var reader = KafkaReader(body, context: "ApiVersions")
        let response = try ApiVersionsResponse(from: &reader, version: 3)
        #expect(response.errorCode == .none)
        #expect(response.apiKeys.count == KafkaAPIKey.allCases.count)
        try response.checkSupported()
    }

    @Test("a broker that lacks a needed version fails with a clear error")
    func unsupportedVersion() throws {
        var keys: [Int16: ApiVersionsResponse.Range] = [:]
        for key in KafkaAPIKey.allCases { keys[key.rawValue] = .init(min: 0, max: key.version) }
        keys[KafkaAPIKey.fetch.rawValue] = .init(min: 0, max: 11)
        keys[KafkaAPIKey.joinGroup.rawValue] = nil
        let response = ApiVersionsResponse(errorCode: .none, apiKeys: keys)
        #expect(throws: KafkaError.unsupportedVersion(api: "Fetch", needed: 12, brokerMin: 0, brokerMax: 11)) {
            try response.checkSupported()
        }
        #expect(throws: KafkaError.unsupportedVersion(api: "JoinGroup", needed: 6, brokerMin: nil, brokerMax: nil)) {
            try response.checkSupported([.joinGroup])
        }
        let text = KafkaError.unsupportedVersion(api: "Fetch", needed: 12, brokerMin: 0, brokerMax: 11).description
        #expect(text.contains("Fetch v0-v11") && text.contains("needs v12"))
    }

    @Test("a truncated response names the field that is missing")
    func truncatedResponse() throws {
        var body = ByteBuffer()
        body.writeInteger(Int32(0))  // throttle
        body.writeInteger(Int16(0))  // error code
        // FindCoordinator: error message, node id, host, port are missing
        var reader = KafkaReader(body, context: "FindCoordinator v3 response")
        #expect(throws: KafkaError.truncatedResponse(context: "FindCoordinator v3 response", field: "ErrorMessage")) {
            _ = try FindCoordinatorResponse(from: &reader, version: 3)
        }
    }

    @Test("a hostile array length does not allocate or crash")
    func hostileArrayLength() throws {
        var body = ByteBuffer()
        body.writeKafkaUVarint(UInt32.max)
        var reader = KafkaReader(body, context: "test")
        #expect(throws: KafkaError.self) { _ = try reader.compactArray("Huge") { try $0.int32() } }
        var strings = ByteBuffer()
        strings.writeKafkaUVarint(1000)
        strings.writeString("short")
        var r2 = KafkaReader(strings, context: "test")
        #expect(throws: KafkaError.truncatedResponse(context: "test", field: "Name")) { _ = try r2.compactString("Name") }
    }

    @Test("request bodies encode to their documented layout (OffsetCommit v8)")
    func offsetCommitLayout() throws {
        let request = OffsetCommitRequest(groupId: "g", generationId: 3, memberId: "m", offsets: [TopicPartition("t", 1): 42])
        var buffer = ByteBuffer()
        request.encode(into: &buffer)
        let expected: [UInt8] = [
            2, 0x67,  // group "g"
            0, 0, 0, 3,  // generation
            2, 0x6D,  // member "m"
            0,  // instance id null
            2,  // one topic
            2, 0x74,  // "t"
            2,  // one partition
            0, 0, 0, 1,
            0, 0, 0, 0, 0, 0, 0, 42,
            0xFF, 0xFF, 0xFF, 0xFF,  // leader epoch -1
            0,  // metadata null
            0,  // partition tags
            0,  // topic tags
            0,  // request tags
        ]
        #expect(Array(buffer.readableBytesView) == expected)
    }

    @Test("consumer protocol subscription and assignment round-trip; empty assignment is not empty bytes")
    func consumerProtocol() throws {
        let sub = ConsumerProtocol.encodeSubscription(topics: ["a", "b"], ownedPartitions: [TopicPartition("a", 1)])
        #expect(try ConsumerProtocol.decodeSubscription(sub) == .init(topics: ["a", "b"], ownedPartitions: [TopicPartition("a", 1)]))
        // a version 0 subscription (other clients) has no owned partitions
        var v0 = ByteBuffer()
        v0.writeInteger(Int16(0))
        v0.writeInteger(Int32(1))
        v0.writeKafkaString("a")
        v0.writeKafkaBytes(nil)
        #expect(try ConsumerProtocol.decodeSubscription(v0) == .init(topics: ["a"]))
        let tps = [TopicPartition("a", 0), TopicPartition("a", 2), TopicPartition("b", 1)]
        #expect(try ConsumerProtocol.decodeAssignment(ConsumerProtocol.encodeAssignment(tps)) == tps)
        let empty = ConsumerProtocol.encodeAssignment([])
        #expect(empty.readableBytes > 0)
        #expect(try ConsumerProtocol.decodeAssignment(empty) == [])
    }

    @Test("error codes: known names, unknown numbers kept, retriable classes")
    func errorCodes() {
        #expect(KafkaErrorCode(6).description == "6 NOT_LEADER_OR_FOLLOWER")
        #expect(KafkaErrorCode(6).isRetriable)
        #expect(KafkaErrorCode(4242).description == "4242 (unknown error code)")
        #expect(!KafkaErrorCode(4242).isRetriable)
        #expect(!KafkaErrorCode.topicAlreadyExists.isRetriable)
        #expect(KafkaError.broker(code: KafkaErrorCode(4242), context: "Produce to t/0").description.contains("4242 (unknown error code)"))
    }

    @Test("topic names are validated like Kafka does")
    func topicNames() throws {
        try KafkaAdmin.validateTopicName("courier.events.v1-UserCreated_x")
        #expect(throws: KafkaError.self) { try KafkaAdmin.validateTopicName("") }
        #expect(throws: KafkaError.self) { try KafkaAdmin.validateTopicName("a b") }
        #expect(throws: KafkaError.self) { try KafkaAdmin.validateTopicName("..") }
        #expect(throws: KafkaError.self) { try KafkaAdmin.validateTopicName(String(repeating: "x", count: 250)) }
    }

    @Test("bootstrap strings are parsed and bad ones rejected")
    func bootstrapParsing() throws {
        let config = try KafkaConfiguration(bootstrap: "127.0.0.1:9092,localhost:19092")
        #expect(config.bootstrapServers == [.init(host: "127.0.0.1", port: 9092), .init(host: "localhost", port: 19092)])
        #expect(throws: KafkaError.self) { _ = try KafkaConfiguration(bootstrap: "nohost") }
        #expect(throws: KafkaError.self) { _ = try KafkaConfiguration(bootstrap: "h:99999") }
        #expect(throws: KafkaError.self) { _ = try KafkaConfiguration(bootstrap: "") }
    }
}
