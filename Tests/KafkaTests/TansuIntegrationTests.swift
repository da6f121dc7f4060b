import CourierTestSupport
import Foundation
@testable import Kafka
import Testing

/// End-to-end tests against a real Tansu broker started per test (see TansuBroker).
@Suite("Tansu integration")
struct TansuIntegrationTests {
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Polls until `count` records arrived or `maxPolls` polls were made.
    static func consume(_ consumer: KafkaConsumer, count: Int, maxPolls: Int = 400) async throws -> [ConsumerRecord] {
        var out: [ConsumerRecord] = []
        for _ in 0..<maxPolls where out.count < count {
            out.append(contentsOf: try await consumer.poll())
        }
        return out
    }

    /// Polls every consumer in its own task until `done()` holds (checked after each poll) or
    /// each made `maxPolls` polls. Returns whether `done()` held.
    static func pollEach(_ consumers: [KafkaConsumer], maxPolls: Int = 300, _ done: @escaping @Sendable () -> Bool) async throws -> Bool {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for consumer in consumers {
                group.addTask {
                    for _ in 0..<maxPolls where !done() { _ = try await consumer.poll() }
                }
            }
            try await group.waitForAll()
        }
        return done()
    }

    @Test("admin creates a topic; produced records come back intact through assign()")
    func produceAndConsume() async throws {
        try await TansuBroker.with { broker in
            let topic = Self.uniqueName("roundtrip")
            let admin = KafkaAdmin(configuration: broker.configuration)
            try await admin.createTopic(topic, partitions: 3)
            #expect(try await admin.partitionCount(topic) == 3)

            let producer = KafkaProducer(configuration: broker.configuration)
            let records = (0..<300).map { i in
                ProducerRecord(
                    topic: topic,
                    key: Array("key-\(i % 17)".utf8),
                    value: Array("value-\(i)".utf8),
                    headers: [KafkaHeader(key: "n", value: "\(i)"), KafkaHeader(key: "null", value: nil)],
                    timestamp: 1_700_000_000_000 + Int64(i)
                )
            }
            let results = try await producer.send(records)
            let metadata = try results.map { try $0.get() }
            for (record, meta) in zip(records, metadata) {
                #expect(meta.partition == KafkaPartitioner.partition(forKey: record.key!, partitionCount: 3))
            }
            // offsets are dense and in send order within each partition
            for p in Int32(0)..<3 {
                let offsets = metadata.filter { $0.partition == p }.map(\.offset)
                #expect(offsets == Array(0..<Int64(offsets.count)))
            }
            let single = try await producer.send(ProducerRecord(topic: topic, partition: 1, key: nil, value: Array("one".utf8)))
            #expect(single.partition == 1)
            await producer.close()

            // Tansu answers ListOffsets(latest) with the last batch's base offset + 1 (Kafka: the
            // high watermark), so only bounds are checked here.
            let latest = try await admin.listOffsets(topic, .latest)
            let earliest = try await admin.listOffsets(topic, .earliest)
            for p in Int32(0)..<3 {
                let produced = Int64(metadata.filter { $0.partition == p }.count + (p == 1 ? 1 : 0))
                #expect(earliest[p] == 0)
                #expect(latest[p]! >= 1 && latest[p]! <= produced)
            }

            var testing = KafkaConsumerConfiguration.testing
            testing.partitionMaxBytes = 4096  // several fetches per partition
            let consumer = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: testing)
            try consumer.assign([TopicPartition(topic, 0): .earliest, TopicPartition(topic, 1): .earliest, TopicPartition(topic, 2): .offset(0)])
            let got = try await Self.consume(consumer, count: 301)
            await consumer.close()
            await admin.close()

            #expect(got.count == 301)
            let byValue = Dictionary(got.map { (String(decoding: $0.value ?? [], as: UTF8.self), $0) }, uniquingKeysWith: { a, _ in a })
            #expect(byValue.count == 301)
            for (i, record) in records.enumerated() {
                let received = byValue["value-\(i)"]
                #expect(received?.key == record.key)
                #expect(received?.headers == record.headers)
                #expect(received?.timestamp == record.timestamp)
                #expect(received?.partition == metadata[i].partition)
                #expect(received?.offset == metadata[i].offset)
            }
        }
    }

    @Test("assign() from latest sees only new records")
    func assignLatest() async throws {
        try await TansuBroker.with { broker in
            let topic = Self.uniqueName("latest")
            let admin = KafkaAdmin(configuration: broker.configuration)
            try await admin.createTopic(topic, partitions: 1)
            let producer = KafkaProducer(configuration: broker.configuration)
            _ = try await producer.send(ProducerRecord(topic: topic, value: Array("old".utf8)))
            let consumer = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing)
            try consumer.assign([TopicPartition(topic, 0): .latest])
            #expect(try await consumer.poll().isEmpty)
            _ = try await producer.send(ProducerRecord(topic: topic, value: Array("new".utf8)))
            let got = try await Self.consume(consumer, count: 1)
            #expect(got.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["new"])
            await producer.close()
            await consumer.close()
            await admin.close()
        }
    }

    @Test("topic errors are clear: unknown topic, existing topic, bad partition count or partition")
    func topicErrors() async throws {
        try await TansuBroker.with { broker in
            let admin = KafkaAdmin(configuration: broker.configuration)
            let producer = KafkaProducer(configuration: broker.configuration)
            let missing = Self.uniqueName("missing")
            await #expect(throws: KafkaError.unknownTopicOrPartition(topic: missing, partition: nil)) {
                try await producer.send(ProducerRecord(topic: missing, value: [1]))
            }
            // the client never auto-creates: the topic is still missing
            await #expect(throws: KafkaError.unknownTopicOrPartition(topic: missing, partition: nil)) {
                _ = try await admin.partitionCount(missing)
            }
            let topic = Self.uniqueName("exists")
            try await admin.createTopic(topic, partitions: 2)
            let duplicate = await #expect(throws: KafkaError.self) { try await admin.createTopic(topic, partitions: 2) }
            if case .broker(let code, _) = duplicate {
                #expect(code == .topicAlreadyExists)
            } else {
                Issue.record("expected TOPIC_ALREADY_EXISTS, got \(String(describing: duplicate))")
            }
            try await admin.createTopic(topic, partitions: 2, ifNotExists: true)
            await #expect(throws: KafkaError.self) { try await admin.createTopic(Self.uniqueName("zero"), partitions: 0) }
            await #expect(throws: KafkaError.self) { try await admin.createTopic("bad name!", partitions: 1) }
            let results = try await producer.send([ProducerRecord(topic: topic, partition: 7, value: [1]), ProducerRecord(topic: topic, partition: 1, value: [2])])
            #expect(throws: KafkaError.unknownTopicOrPartition(topic: topic, partition: 7)) { try results[0].get() }
            #expect(try results[1].get().partition == 1)
            await producer.close()
            await admin.close()
        }
    }

    @Test("a consumer group member commits, leaves, and a new member resumes from the commit")
    func groupResume() async throws {
        try await TansuBroker.with { broker in
            let topic = Self.uniqueName("resume")
            let group = Self.uniqueName("group")
            let admin = KafkaAdmin(configuration: broker.configuration)
            try await admin.createTopic(topic, partitions: 2)
            let producer = KafkaProducer(configuration: broker.configuration)
            _ = try await producer.send((0..<10).map { ProducerRecord(topic: topic, key: Array("k\($0)".utf8), value: Array("first-\($0)".utf8)) })

            let first = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing, groupId: group)
            try first.subscribe(topics: [topic])
            let got = try await Self.consume(first, count: 10)
            #expect(got.count == 10)
            #expect(Set(first.assignment) == [TopicPartition(topic, 0), TopicPartition(topic, 1)])
            try await first.commit(records: got)
            await first.close()

            _ = try await producer.send((0..<4).map { ProducerRecord(topic: topic, key: Array("k\($0)".utf8), value: Array("second-\($0)".utf8)) })
            let second = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing, groupId: group)
            try second.subscribe(topics: [topic])
            let more = try await Self.consume(second, count: 4)
            #expect(more.map { String(decoding: $0.value ?? [], as: UTF8.self) }.sorted() == (0..<4).map { "second-\($0)" })
            try await second.commit(records: more)
            let committed = try await second.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)])
            for p in Int32(0)..<2 {
                let last = (got + more).filter { $0.partition == p }.map(\.offset).max()
                #expect(committed[TopicPartition(topic, p)] == last.map { $0 + 1 } ?? -1)
            }
            await second.close()
            await producer.close()
            await admin.close()
        }
    }

    @Test("two members split the partitions; the survivor takes over when one leaves", arguments: [KafkaConsumerConfiguration.Assignor.range, .sticky])
    func groupSplitAndTakeover(assignor: KafkaConsumerConfiguration.Assignor) async throws {
        var config = KafkaConsumerConfiguration.testing
        config.assignor = assignor
        try await TansuBroker.with { broker in
            let topic = Self.uniqueName("split")
            let group = Self.uniqueName("group")
            let admin = KafkaAdmin(configuration: broker.configuration)
            try await admin.createTopic(topic, partitions: 4)
            let all = Set((0..<4).map { TopicPartition(topic, Int32($0)) })

            let a = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: config, groupId: group)
            let b = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: config, groupId: group)
            try a.subscribe(topics: [topic])
            try b.subscribe(topics: [topic])
            _ = try await a.poll()
            #expect(Set(a.assignment) == all)

            // B joins: each member polls in its own task (A rejoins on its poll) until the split holds.
            let split = try await Self.pollEach([a, b]) {
                let sa = Set(a.assignment), sb = Set(b.assignment)
                return sa.count == 2 && sb.count == 2 && sa.union(sb) == all && a.generation == b.generation && a.generation >= 0
            }
            #expect(split)
            if assignor == .sticky {
                // A kept two of the partitions it owned alone; nothing moved twice
                #expect(Set(a.assignment).isSubset(of: all) && a.assignment.count == 2)
            }
            let aBefore = Set(a.assignment)

            await b.close()
            var takenOver = false
            for _ in 0..<200 where !takenOver {
                _ = try await a.poll()
                takenOver = Set(a.assignment) == all
            }
            #expect(takenOver)
            #expect(aBefore.isSubset(of: Set(a.assignment)))
            await a.close()
            await admin.close()
        }
    }

    @Test("a leader that leaves while a newcomer's join is pending hands the group over first")
    func leaderLeavesDuringJoin() async throws {
        try await TansuBroker.with { broker in
            let topic = Self.uniqueName("handover")
            let group = Self.uniqueName("group")
            let admin = KafkaAdmin(configuration: broker.configuration)
            try await admin.createTopic(topic, partitions: 4)
            let all = Set((0..<4).map { TopicPartition(topic, Int32($0)) })
            let a = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing, groupId: group)
            try a.subscribe(topics: [topic])
            _ = try await a.poll()
            #expect(Set(a.assignment) == all)

            // B asks to join; the broker holds its JoinGroup while it waits for A to rejoin.
            let b = KafkaConsumer(configuration: broker.configuration, consumerConfiguration: .testing, groupId: group)
            try b.subscribe(topics: [topic])
            let joined = Task {
                for _ in 0..<200 {
                    _ = try await b.poll()
                    if Set(b.assignment) == all { return true }
                }
                return false
            }
            // A hears of the rebalance from a heartbeat (so B's join is at the broker) and leaves
            // instead of polling again, as a service that is shutting down does. Leaving the forming
            // group as its leader used to strand B (Tansu kept A as leader; B's syncs failed forever).
            let deadline = ContinuousClock.now + .seconds(20)
            while !a.rejoinPending && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(a.rejoinPending, "A never heard of B's join")
            await a.close()
            #expect(try await joined.value, "B never got the partitions the leaving leader owned")
            await b.close()
            await admin.close()
        }
    }

    @Test("after a broker restart the producer and admin reconnect and go on")
    func reconnectAfterRestart() async throws {
        let first = try await TansuBroker.start()
        var current = first
        defer { current.stop() }
        let topic = Self.uniqueName("restart")
        let admin = KafkaAdmin(configuration: first.configuration)
        try await admin.createTopic(topic, partitions: 2)
        let producer = KafkaProducer(configuration: first.configuration)
        let before = try await producer.send(ProducerRecord(topic: topic, key: Array("k".utf8), value: Array("before".utf8)))

        current = try await first.restarted()
        // memory storage: the new broker is empty. A send before the topic exists again must fail
        // (the cached leaders are stale); acknowledged, the record would be lost.
        do {
            let lost = try await producer.send(ProducerRecord(topic: topic, key: Array("k".utf8), value: Array("lost".utf8)))
            Issue.record("a send to a topic the new broker lacks was acknowledged at \(lost)")
        } catch let error as KafkaError {
            #expect(error == .unknownTopicOrPartition(topic: topic, partition: nil))
        }
        try await admin.createTopic(topic, partitions: 2)
        let after = try await producer.send(ProducerRecord(topic: topic, key: Array("k".utf8), value: Array("after".utf8)))
        #expect(after.partition == before.partition)
        #expect(after.offset == 0)

        let consumer = KafkaConsumer(configuration: current.configuration, consumerConfiguration: .testing)
        try consumer.assign([TopicPartition(topic, after.partition): .earliest])
        let got = try await Self.consume(consumer, count: 1)
        #expect(got.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["after"])
        await consumer.close()
        await producer.close()
        await admin.close()
    }
}
