import NIOCore
import NIOPosix

/// The client's view of the cluster: one connection per broker (opened lazily, reopened after a
/// broker restart), the brokers' API versions checked on connect, and a metadata cache that is
/// refreshed when a leader moves and whenever a connection to a node is reopened: the broker
/// behind it may be a new one that lacks topics the cache still lists, and a produce to such a
/// topic can be acknowledged and dropped.
actor KafkaCluster {
    struct TopicInfo: Sendable {
        var partitions: [Int32: Int32]  // partition -> leader node
        var count: Int { partitions.count }
    }

    let configuration: KafkaConfiguration
    let group: any EventLoopGroup
    private var connections: [Int32: KafkaConnection] = [:]
    private var connecting: [Int32: Task<KafkaConnection, any Error>] = [:]
    private var bootstrap: KafkaConnection?
    private var brokers: [Int32: MetadataResponse.Broker] = [:]
    private var topics: [String: TopicInfo] = [:]
    /// Nodes this client has had a connection to: opening another one is a reconnect.
    private var connectedNodes: Set<Int32> = []
    private var isClosed = false

    init(configuration: KafkaConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    /// Opens a connection and checks that the broker offers every version this client needs.
    private func open(host: String, port: Int) async throws -> KafkaConnection {
        let connection = try await KafkaConnection.connect(host: host, port: port, group: group, configuration: configuration)
        do {
            var versions = try await connection.send(ApiVersionsRequest(), timeout: configuration.requestTimeout)
            if versions.errorCode == .unsupportedVersion {
                versions = try await connection.send(ApiVersionsRequest(apiVersion: 0), timeout: configuration.requestTimeout)
            }
            guard versions.errorCode == .none else {
                throw KafkaError.broker(code: versions.errorCode, context: "ApiVersions from \(host):\(port)")
            }
            try versions.checkSupported()
            return connection
        } catch {
            await connection.close()
            throw error
        }
    }

    /// A new connection that the caller owns (the group coordinator connection, which must not wait
    /// behind fetches).
    func openDedicated(host: String, port: Int) async throws -> KafkaConnection {
        guard !isClosed else { throw KafkaError.closed("Kafka client") }
        return try await open(host: host, port: port)
    }

    /// A live connection to any broker, bootstrapping if needed.
    func anyConnection() async throws -> KafkaConnection {
        guard !isClosed else { throw KafkaError.closed("Kafka client") }
        if let bootstrap, bootstrap.isActive { return bootstrap }
        if let live = connections.values.first(where: \.isActive) { return live }
        var lastError: any Error = KafkaError.invalidArgument("no bootstrap servers")
        for server in configuration.bootstrapServers {
            do {
                let connection = try await open(host: server.host, port: server.port)
                bootstrap = connection
                return connection
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    func connection(node: Int32) async throws -> KafkaConnection {
        guard !isClosed else { throw KafkaError.closed("Kafka client") }
        if let existing = connections[node], existing.isActive { return existing }
        if let pending = connecting[node] { return try await pending.value }
        if brokers[node] == nil { _ = try await refreshMetadata(topics: []) }
        guard let broker = brokers[node] else {
            throw KafkaError.connectionFailed(broker: "node \(node)", reason: "the node is not in the cluster metadata")
        }
        let reconnect = connectedNodes.contains(node)
        let task = Task {
            let connection = try await self.open(host: broker.host, port: Int(broker.port))
            if reconnect { try await self.refreshCachedTopics() }
            return connection
        }
        connecting[node] = task
        defer { connecting[node] = nil }
        let connection = try await task.value
        connectedNodes.insert(node)
        if let old = connections[node] { Task { await old.close() } }
        connections[node] = connection
        return connection
    }

    /// A connection to `node` for records of `partitions`, checked against the metadata once the
    /// connection is live: after a reconnect the cache is fresh, and a partition that moved or a
    /// topic the broker no longer has fails here instead of at a broker that would drop it.
    func connection(node: Int32, leading partitions: [TopicPartition]) async throws -> KafkaConnection {
        let connection = try await connection(node: node)
        for tp in partitions {
            let leader = try await leader(tp)
            guard leader == node else {
                throw KafkaError.broker(code: .notLeaderOrFollower, context: "\(tp) is now led by node \(leader), not \(node)")
            }
        }
        return connection
    }

    /// Forgets every cached leader and asks the cluster again about the topics that were cached.
    private func refreshCachedTopics() async throws {
        let known = Array(topics.keys)
        topics.removeAll()
        if !known.isEmpty { try await refreshMetadata(topics: known) }
    }

    /// Connects to a broker given by address (the group coordinator).
    func connection(host: String, port: Int32, node: Int32) async throws -> KafkaConnection {
        if brokers[node] == nil { brokers[node] = MetadataResponse.Broker(nodeId: node, host: host, port: port) }
        return try await connection(node: node)
    }

    /// Fetches metadata for `topics` (nil: all) and updates the cache.
    @discardableResult
    func refreshMetadata(topics wanted: [String]?) async throws -> MetadataResponse {
        let response = try await withRetries("Metadata") {
            let connection = try await self.anyConnection()
            return try await connection.send(MetadataRequest(topics: wanted), timeout: self.configuration.requestTimeout)
        }
        for broker in response.brokers { brokers[broker.nodeId] = broker }
        for topic in response.topics {
            if topic.errorCode == .none {
                var info = TopicInfo(partitions: [:])
                for p in topic.partitions { info.partitions[p.index] = p.leaderId }
                topics[topic.name] = info
            } else {
                topics[topic.name] = nil
            }
        }
        return response
    }

    /// The topic's partitions and leaders, from the cache or a fresh Metadata request.
    func topicInfo(_ topic: String) async throws -> TopicInfo {
        if let info = topics[topic] { return info }
        let response = try await refreshMetadata(topics: [topic])
        guard let entry = response.topics.first(where: { $0.name == topic }) else {
            throw KafkaError.unknownTopicOrPartition(topic: topic, partition: nil)
        }
        if entry.errorCode == .unknownTopicOrPartition || entry.partitions.isEmpty {
            throw KafkaError.unknownTopicOrPartition(topic: topic, partition: nil)
        }
        guard entry.errorCode == .none, let info = topics[topic] else {
            throw KafkaError.broker(code: entry.errorCode, context: "Metadata for topic \(topic)")
        }
        return info
    }

    func leader(_ tp: TopicPartition) async throws -> Int32 {
        let info = try await topicInfo(tp.topic)
        guard let leader = info.partitions[tp.partition] else {
            throw KafkaError.unknownTopicOrPartition(topic: tp.topic, partition: tp.partition)
        }
        return leader
    }

    /// Forgets cached leaders so the next lookup asks the cluster again.
    func invalidate(topic: String) {
        topics[topic] = nil
    }

    func dropConnection(node: Int32) async {
        if let connection = connections.removeValue(forKey: node) { await connection.close() }
    }

    /// Runs `body`, retrying connection failures and closed connections with exponential backoff.
    nonisolated func withRetries<T: Sendable>(_ what: String, _ body: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        var backoff = configuration.retryBackoff
        while true {
            do {
                return try await body()
            } catch let error as KafkaError {
                switch error {
                case .connectionClosed, .connectionFailed, .requestTimedOut:
                    attempt += 1
                    guard attempt <= configuration.maxRetries else { throw error }
                    try await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(2))
                default:
                    throw error
                }
            }
        }
    }

    func close() async {
        isClosed = true
        let all = Array(connections.values) + (bootstrap.map { [$0] } ?? [])
        connections.removeAll()
        bootstrap = nil
        for connection in all { await connection.close() }
    }
}
