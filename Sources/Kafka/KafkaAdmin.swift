/// Cluster administration: topics and offsets. The client never relies on auto-creation, so a
/// topic must be created here (or by an operator) before it is used.
public final class KafkaAdmin: Sendable {
    public enum OffsetSpec: Sendable {
        case earliest
        case latest

        var timestamp: Int64 { self == .earliest ? -2 : -1 }
    }

    let cluster: KafkaCluster

    public init(configuration: KafkaConfiguration) {
        cluster = KafkaCluster(configuration: configuration)
    }

    /// Checks a topic name the way Kafka does: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
    public static func validateTopicName(_ name: String) throws {
        guard !name.isEmpty else { throw KafkaError.invalidArgument("topic name is empty") }
        guard name.utf8.count <= 249 else { throw KafkaError.invalidArgument("topic name '\(name.prefix(20))...' is longer than 249 characters") }
        guard name != ".", name != ".." else { throw KafkaError.invalidArgument("topic name cannot be '\(name)'") }
        for c in name.utf8 {
            let ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
            guard ok else { throw KafkaError.invalidArgument("topic name '\(name)' has a character other than a-z, A-Z, 0-9, '.', '_' and '-'") }
        }
    }

    /// Creates a topic. With `ifNotExists`, an existing topic is not an error.
    public func createTopic(
        _ name: String,
        partitions: Int32,
        replicationFactor: Int16 = 1,
        configs: [String: String] = [:],
        ifNotExists: Bool = false
    ) async throws {
        try Self.validateTopicName(name)
        guard partitions > 0 else { throw KafkaError.invalidArgument("topic \(name) needs at least one partition, got \(partitions)") }
        guard replicationFactor > 0 else { throw KafkaError.invalidArgument("replication factor must be positive, got \(replicationFactor)") }
        let request = CreateTopicsRequest(
            topics: [.init(name: name, partitions: partitions, replicationFactor: replicationFactor, configs: configs)],
            timeoutMs: Int32(cluster.configuration.requestTimeout.milliseconds)
        )
        let response = try await cluster.withRetries("CreateTopics") {
            let metadata = try await self.cluster.refreshMetadata(topics: [])
            let connection = try await self.cluster.connection(node: metadata.controllerId)
            return try await connection.send(request, timeout: self.cluster.configuration.requestTimeout)
        }
        guard let result = response.topics.first(where: { $0.name == name }) else {
            throw KafkaError.malformedFrame("CreateTopics response does not mention topic \(name)")
        }
        if result.errorCode == .topicAlreadyExists && ifNotExists { return }
        guard result.errorCode == .none else {
            throw KafkaError.broker(code: result.errorCode, context: "CreateTopics \(name)\(result.errorMessage.map { ": \($0)" } ?? "")")
        }
        await cluster.invalidate(topic: name)
    }

    /// The number of partitions of a topic; throws `unknownTopicOrPartition` if it does not exist.
    public func partitionCount(_ topic: String) async throws -> Int {
        await cluster.invalidate(topic: topic)
        return try await cluster.topicInfo(topic).count
    }

    /// The earliest or latest offset of every partition of `topic`.
    public func listOffsets(_ topic: String, _ spec: OffsetSpec) async throws -> [Int32: Int64] {
        let info = try await cluster.topicInfo(topic)
        return try await listOffsets(info.partitions.keys.map { TopicPartition(topic, $0) }, spec)
    }

    func listOffsets(_ partitions: [TopicPartition], _ spec: OffsetSpec) async throws -> [Int32: Int64] {
        try await Self.listOffsets(cluster: cluster, partitions, timestamp: spec.timestamp).reduce(into: [:]) { $0[$1.key.partition] = $1.value }
    }

    static func listOffsets(cluster: KafkaCluster, _ partitions: [TopicPartition], timestamp: Int64) async throws -> [TopicPartition: Int64] {
        var byLeader: [Int32: [TopicPartition]] = [:]
        for tp in partitions { byLeader[try await cluster.leader(tp), default: []].append(tp) }
        var out: [TopicPartition: Int64] = [:]
        for (leader, tps) in byLeader {
            let byTopic = Dictionary(grouping: tps, by: \.topic)
            let request = ListOffsetsRequest(topics: byTopic.map { ($0.key, $0.value.map { ($0.partition, timestamp) }) })
            let response = try await cluster.withRetries("ListOffsets") {
                try await cluster.connection(node: leader).send(request, timeout: cluster.configuration.requestTimeout)
            }
            for p in response.partitions {
                guard p.errorCode == .none else {
                    throw KafkaError.broker(code: p.errorCode, context: "ListOffsets \(p.topic)/\(p.partition)")
                }
                out[TopicPartition(p.topic, p.partition)] = p.offset
            }
        }
        return out
    }

    /// Connects to a bootstrap broker and checks its API versions.
    public func checkConnection() async throws {
        _ = try await cluster.anyConnection()
    }

    public func close() async {
        await cluster.close()
    }
}
