import CourierTestSupport
import NIOCore
import Testing

@testable import Kafka

/// The client against a broker that misbehaves: every case must end in a clear error, never a
/// crash or silently lost data.
@Suite("Bad input from the broker")
struct BadInputTests {
    static let metadata = KafkaAPIKey.metadata.rawValue
    static let createTopics = KafkaAPIKey.createTopics.rawValue

    func withBroker(_ scenario: @escaping MisbehavingBroker.Scenario, _ body: (MisbehavingBroker) async throws -> Void) async throws {
        let broker = try await MisbehavingBroker.start(scenario)
        do {
            try await body(broker)
        } catch {
            await broker.stop()
            throw error
        }
        await broker.stop()
    }

    @Test("a truncated response is an error naming the missing field")
    func truncated() async throws {
        try await withBroker({ key, _ in
            key == Self.metadata ? .body(ByteBuffer(bytes: [0, 0, 0, 0, 2])) : .silence
        }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            let error = await #expect(throws: KafkaError.self) { _ = try await admin.partitionCount("t") }
            guard case .truncatedResponse(let context, _) = error else {
                Issue.record("expected truncatedResponse, got \(String(describing: error))")
                return
            }
            #expect(context.contains("Metadata v9"))
            await admin.close()
        }
    }

    @Test("an oversized frame is rejected before it is read")
    func oversized() async throws {
        try await withBroker({ key, id in
            guard key == Self.metadata else { return .silence }
            var raw = ByteBuffer()
            raw.writeInteger(Int32(500_000_000))
            raw.writeInteger(id)
            return .raw(raw)
        }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            await #expect(throws: KafkaError.frameTooLarge(size: 500_000_000, limit: 1024 * 1024)) {
                _ = try await admin.partitionCount("t")
            }
            await admin.close()
        }
    }

    @Test("a negative frame size is a malformed frame")
    func negativeSize() async throws {
        try await withBroker({ key, _ in
            key == Self.metadata ? .raw(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 1])) : .silence
        }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            let error = await #expect(throws: KafkaError.self) { _ = try await admin.partitionCount("t") }
            guard case .malformedFrame = error else {
                Issue.record("expected malformedFrame, got \(String(describing: error))")
                return
            }
            await admin.close()
        }
    }

    @Test("a broker that closes mid-request gives connectionClosed")
    func closesMidRequest() async throws {
        try await withBroker({ key, _ in key == Self.metadata ? .close : .silence }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            await #expect(throws: KafkaError.connectionClosed(broker: "127.0.0.1:\(broker.port)")) {
                _ = try await admin.partitionCount("t")
            }
            await admin.close()
        }
    }

    @Test("a broker that closes after half a frame gives connectionClosed, not a hang")
    func closesMidFrame() async throws {
        try await withBroker({ key, id in
            guard key == Self.metadata else { return .silence }
            var raw = ByteBuffer()
            raw.writeInteger(Int32(100))
            raw.writeInteger(id)
            raw.writeBytes([1, 2, 3])
            return .rawThenClose(raw)
        }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            await #expect(throws: KafkaError.connectionClosed(broker: "127.0.0.1:\(broker.port)")) {
                _ = try await admin.partitionCount("t")
            }
            await admin.close()
        }
    }

    @Test("a frame the broker never finishes times out with a clear error")
    func neverFinishes() async throws {
        try await withBroker({ key, id in
            guard key == Self.metadata else { return .silence }
            var raw = ByteBuffer()
            raw.writeInteger(Int32(100))
            raw.writeInteger(id)
            raw.writeBytes([1, 2, 3])
            return .raw(raw)
        }) { broker in
            var config = broker.configuration
            config.requestTimeout = .milliseconds(300)
            let admin = KafkaAdmin(configuration: config)
            let error = await #expect(throws: KafkaError.self) { _ = try await admin.partitionCount("t") }
            guard case .requestTimedOut(let api, _, _) = error else {
                Issue.record("expected requestTimedOut, got \(String(describing: error))")
                return
            }
            #expect(api == "Metadata v9")
            await admin.close()
        }
    }

    @Test("an unknown error code is reported with its number")
    func unknownErrorCode() async throws {
        try await withBroker({ key, _ in
            guard key == Self.createTopics else { return .silence }
            var b = ByteBuffer()
            b.writeInteger(Int32(0))
            b.writeCompactArrayCount(1)
            b.writeCompactString("newtopic")
            b.writeInteger(Int16(999))
            b.writeCompactNullableString(nil)
            b.writeInteger(Int32(-1))
            b.writeInteger(Int16(-1))
            b.writeKafkaUVarint(0)
            b.writeEmptyTaggedFields()
            b.writeEmptyTaggedFields()
            return .body(b)
        }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            let error = await #expect(throws: KafkaError.self) { try await admin.createTopic("newtopic", partitions: 1) }
            #expect(error == .broker(code: KafkaErrorCode(999), context: "CreateTopics newtopic"))
            #expect(error?.description.contains("999 (unknown error code)") == true)
            await admin.close()
        }
    }

    @Test("a fetched batch with a wrong CRC fails the poll instead of delivering data")
    func corruptFetch() async throws {
        var batch = RecordBatchBuilder()
        batch.append(key: Array("k".utf8), value: Array("v".utf8), headers: [], timestamp: 1)
        var bytes = Array(batch.finish().readableBytesView)
        bytes[bytes.count - 2] ^= 0x55
        let corrupt = ByteBuffer(bytes: bytes)
        try await withBroker({ key, _ in
            key == KafkaAPIKey.fetch.rawValue ? .body(MisbehavingBroker.fetchBody(records: corrupt)) : .silence
        }) { broker in
            let consumer = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing)
            try consumer.assign([TopicPartition("t", 0): .offset(0)])
            let error = await #expect(throws: KafkaError.self) { _ = try await consumer.poll() }
            guard case .corruptBatch(let topic, let partition, let base, _, _) = error else {
                Issue.record("expected corruptBatch, got \(String(describing: error))")
                return
            }
            #expect(topic == "t" && partition == 0 && base == 0)
            await consumer.close()
        }
    }

    @Test("a broker without a needed API version is refused on connect")
    func missingVersion() async throws {
        try await withBroker({ key, _ in
            guard key == KafkaAPIKey.apiVersions.rawValue else { return .silence }
            var b = ByteBuffer()
            b.writeInteger(Int16(0))
            let keys = KafkaAPIKey.allCases.filter { $0 != .fetch }
            b.writeCompactArray(keys) { b, key in
                b.writeInteger(key.rawValue)
                b.writeInteger(Int16(0))
                b.writeInteger(key.version)
                b.writeEmptyTaggedFields()
            }
            b.writeInteger(Int32(0))
            b.writeEmptyTaggedFields()
            return .body(b)
        }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            await #expect(throws: KafkaError.unsupportedVersion(api: "Fetch", needed: 12, brokerMin: nil, brokerMax: nil)) {
                try await admin.checkConnection()
            }
            await admin.close()
        }
    }

    @Test("ApiVersions v3 UNSUPPORTED_VERSION falls back to v0")
    func apiVersionsFallback() async throws {
        try await withBroker({ key, id in
            guard key == KafkaAPIKey.apiVersions.rawValue else { return .silence }
            var b = ByteBuffer()
            if id == 1 {
                // an older broker answers v3 with error 35 (in a v0 body without keys)
                b.writeInteger(Int16(35))
                b.writeInteger(Int32(0))
            } else {
                // the v0 answer: int32-count array, no tags
                b.writeInteger(Int16(0))
                b.writeInteger(Int32(KafkaAPIKey.allCases.count))
                for key in KafkaAPIKey.allCases {
                    b.writeInteger(key.rawValue)
                    b.writeInteger(Int16(0))
                    b.writeInteger(key.version)
                }
            }
            return .body(b)
        }) { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            try await admin.checkConnection()
            #expect(try await admin.partitionCount("t") == 1)
            await admin.close()
        }
    }

    @Test("nothing listening: connectionFailed names the broker")
    func nothingListening() async throws {
        let port = try await TansuBroker.freePort()
        var config = KafkaConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: port)])
        config.maxRetries = 0
        let admin = KafkaAdmin(configuration: config)
        let error = await #expect(throws: KafkaError.self) { try await admin.checkConnection() }
        guard case .connectionFailed(let broker, _) = error else {
            Issue.record("expected connectionFailed, got \(String(describing: error))")
            return
        }
        #expect(broker == "127.0.0.1:\(port)")
        await admin.close()
    }
}
