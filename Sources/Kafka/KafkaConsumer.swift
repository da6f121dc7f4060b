public import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Reads records, either from partitions the application assigns (`assign`) or as a member of a
/// consumer group (`subscribe`, classic protocol). In a group, the application commits offsets
/// after it has processed records; a restarted member resumes from the last commit.
///
/// Call `poll()` from one task at a time. Group joins and rebalances happen inside `poll()`, so a
/// member never loses its partitions between processing a record and committing it.
public final class KafkaConsumer: Sendable {
    /// Where to start reading an assigned partition.
    public enum StartOffset: Sendable, Hashable {
        case earliest
        case latest
        case offset(Int64)
        /// The group's committed offset, else the configured reset policy.
        case committed
    }

    private struct State: Sendable {
        var subscription: [String] = []
        var groupMode = false
        var membership = GroupMembershipStateMachine()
        /// Assigned partitions and the next offset to read (nil until resolved).
        var positions: [TopicPartition: Int64?] = [:]
        /// The last high watermark each fetch reported, for ``lag()``.
        var highWatermarks: [TopicPartition: Int64] = [:]
        var starts: [TopicPartition: StartOffset] = [:]
        /// The order partitions are asked for in the next fetch: those that gave no records last
        /// time first. A broker that ends a fetch early (a size or time budget; Tansu stops after
        /// its fetch wait) then still serves every partition in turn instead of the first ones.
        var fetchOrder: [TopicPartition] = []
        /// Bumped on every assignment change, to drop records fetched for a revoked assignment.
        var assignmentEpoch = 0
        var coordinator: KafkaConnection?
        var heartbeat: Task<Void, Never>?
        var closed = false
        var fatal: KafkaError?
    }

    private let cluster: KafkaCluster
    private let config: KafkaConsumerConfiguration
    public let groupId: String?
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    public init(
        configuration: KafkaConfiguration,
        consumerConfiguration: KafkaConsumerConfiguration = .defaults,
        groupId: String? = nil,
        logger: Logger = Logger(label: "courier.kafka.consumer")
    ) {
        self.cluster = KafkaCluster(configuration: configuration)
        self.config = consumerConfiguration
        self.groupId = groupId
        self.logger = logger
    }

    /// Reads these partitions without a group.
    public func assign(_ partitions: [TopicPartition: StartOffset]) throws {
        try state.withLockedValue { state in
            guard !state.groupMode else { throw KafkaError.invalidArgument("consumer already subscribed to a group; use another consumer for assign()") }
            for (tp, start) in partitions {
                if start == .committed && groupId == nil {
                    throw KafkaError.invalidArgument("StartOffset.committed needs a groupId")
                }
                state.positions[tp] = .some(nil)
                state.starts[tp] = start
            }
            state.assignmentEpoch += 1
        }
    }

    /// Joins the consumer group (on the next `poll()`) for these topics.
    public func subscribe(topics: [String]) throws {
        guard groupId != nil else { throw KafkaError.invalidArgument("subscribe needs a groupId") }
        guard !topics.isEmpty else { throw KafkaError.invalidArgument("subscribe needs at least one topic") }
        for topic in topics { try KafkaAdmin.validateTopicName(topic) }
        try state.withLockedValue { state in
            guard state.positions.isEmpty || state.groupMode else {
                throw KafkaError.invalidArgument("consumer already has an assign() assignment")
            }
            state.subscription = topics.sorted()
            state.groupMode = true
        }
    }

    /// The partitions this consumer reads now.
    public var assignment: [TopicPartition] {
        state.withLockedValue { $0.positions.keys.sorted() }
    }

    /// The generation of the group this member is in, or -1.
    public var generation: Int32 {
        state.withLockedValue { $0.membership.isStable ? $0.membership.generation : -1 }
    }

    /// Changes whenever the assigned partitions are replaced (``assign(_:)``, a join of the
    /// group). Read after ``poll()``, it names the assignment that poll's records belong to.
    public var assignmentEpoch: Int {
        state.withLockedValue { $0.assignmentEpoch }
    }

    /// True when a heartbeat learned of a rebalance and the next poll will rejoin.
    public var rejoinPending: Bool {
        state.withLockedValue { $0.groupMode && $0.membership.needsJoin }
    }

    /// Records behind, per assigned partition: the high watermark the last fetch saw minus the next
    /// offset to fetch. Partitions not fetched yet are left out. For metrics; costs no request.
    public func lag() -> [TopicPartition: Int64] {
        state.withLockedValue { state in
            var lag: [TopicPartition: Int64] = [:]
            for (tp, position) in state.positions {
                guard let position, let highWatermark = state.highWatermarks[tp] else { continue }
                lag[tp] = max(0, highWatermark - position)
            }
            return lag
        }
    }

    /// Fetches the next records, waiting up to the fetch max wait when there are none. In a group,
    /// first joins or rejoins if needed.
    public func poll() async throws -> [ConsumerRecord] {
        let (groupMode, needsJoin) = try state.withLockedValue { state -> (Bool, Bool) in
            if state.closed { throw KafkaError.closed("consumer") }
            if let fatal = state.fatal { throw fatal }
            return (state.groupMode, state.membership.needsJoin)
        }
        if groupMode && needsJoin { try await joinGroup() }
        try await resolvePositions()
        let (epoch, positions) = state.withLockedValue { ($0.assignmentEpoch, $0.positions.compactMapValues { $0 }) }
        if positions.isEmpty {
            try await Task.sleep(for: config.fetchMaxWait)
            return []
        }
        let order = state.withLockedValue { FetchOrder.next(previous: $0.fetchOrder, assigned: Set(positions.keys)) }
        var byLeader: [Int32: [TopicPartition]] = [:]
        for tp in order { byLeader[try await cluster.leader(tp), default: []].append(tp) }
        var records: [ConsumerRecord] = []
        var next: [TopicPartition: Int64] = [:]
        try await withThrowingTaskGroup(of: ([ConsumerRecord], [TopicPartition: Int64]).self) { group in
            for (leader, tps) in byLeader {
                group.addTask { try await self.fetch(from: leader, tps.map { ($0, positions[$0]!) }) }
            }
            for try await (r, n) in group {
                records.append(contentsOf: r)
                next.merge(n) { $1 }
            }
        }
        let kept: Bool = state.withLockedValue { state in
            guard state.assignmentEpoch == epoch else { return false }
            for (tp, offset) in next where state.positions[tp] != nil { state.positions[tp] = offset }
            state.fetchOrder = FetchOrder.after(order, served: Set(records.map { TopicPartition($0.topic, $0.partition) }))
            return true
        }
        return kept ? records : []
    }

    private func fetch(from leader: Int32, _ partitions: [(TopicPartition, Int64)]) async throws -> ([ConsumerRecord], [TopicPartition: Int64]) {
        // Topics and partitions in the order given (a topic where its first partition is).
        var topics: [String] = []
        var byTopic: [String: [(TopicPartition, Int64)]] = [:]
        for partition in partitions {
            if byTopic[partition.0.topic] == nil { topics.append(partition.0.topic) }
            byTopic[partition.0.topic, default: []].append(partition)
        }
        let request = FetchRequest(
            maxWaitMs: Int32(config.fetchMaxWait.milliseconds),
            minBytes: config.fetchMinBytes,
            maxBytes: config.fetchMaxBytes,
            topics: topics.map { topic in
                (topic, (byTopic[topic] ?? []).map {
                    .init(partition: $0.0.partition, fetchOffset: $0.1, partitionMaxBytes: config.partitionMaxBytes)
                })
            }
        )
        let response: FetchResponse
        do {
            let connection = try await cluster.connection(node: leader)
            response = try await connection.send(request, timeout: cluster.configuration.requestTimeout + config.fetchMaxWait)
        } catch let error as KafkaError {
            switch error {
            case .connectionClosed, .connectionFailed, .requestTimedOut:
                // The broker restarted or the leader moved: look again on the next poll.
                await cluster.dropConnection(node: leader)
                for topic in byTopic.keys { await cluster.invalidate(topic: topic) }
                try await Task.sleep(for: cluster.configuration.retryBackoff)
                return ([], [:])
            default:
                throw error
            }
        }
        guard response.errorCode == .none else {
            throw KafkaError.broker(code: response.errorCode, context: "Fetch from node \(leader)")
        }
        let offsets = Dictionary(uniqueKeysWithValues: partitions.map { ($0.0, $0.1) })
        var records: [ConsumerRecord] = []
        var next: [TopicPartition: Int64] = [:]
        var needsBackoff = false
        for data in response.partitions {
            let tp = TopicPartition(data.topic, data.partition)
            guard let fetchOffset = offsets[tp] else { continue }
            switch data.errorCode {
            case .none:
                state.withLockedValue { $0.highWatermarks[tp] = data.highWatermark }
            case .offsetOutOfRange:
                let reset = try await Self.resetOffset(cluster: cluster, tp, config.offsetReset)
                next[tp] = reset
                continue
            case let code where code.isRetriable:
                // leader moved or not yet elected: refresh metadata and pause before the next fetch
                await cluster.invalidate(topic: tp.topic)
                needsBackoff = true
                continue
            default:
                throw KafkaError.broker(code: data.errorCode, context: "Fetch \(tp)")
            }
            guard let bytes = data.records else { continue }
            let decoded = try RecordBatchDecoder.decode(bytes, topic: tp.topic, partition: tp.partition, fetchOffset: fetchOffset)
            records.append(contentsOf: decoded.records)
            if let last = decoded.records.last {
                next[tp] = max(last.offset + 1, decoded.nextOffset ?? 0)
            } else if let n = decoded.nextOffset, n > fetchOffset {
                next[tp] = n
            }
        }
        if needsBackoff && records.isEmpty { try await Task.sleep(for: cluster.configuration.retryBackoff) }
        return (records, next)
    }

    private static func resetOffset(cluster: KafkaCluster, _ tp: TopicPartition, _ reset: KafkaConsumerConfiguration.OffsetReset) async throws -> Int64 {
        let offsets = try await KafkaAdmin.listOffsets(cluster: cluster, [tp], timestamp: reset == .earliest ? -2 : -1)
        guard let offset = offsets[tp] else { throw KafkaError.unknownTopicOrPartition(topic: tp.topic, partition: tp.partition) }
        return offset
    }

    /// Fills in the start position of newly assigned partitions.
    private func resolvePositions() async throws {
        let (epoch, pending) = state.withLockedValue { state in
            (state.assignmentEpoch, state.positions.filter { $0.value == nil }.map { ($0.key, state.starts[$0.key] ?? .committed) })
        }
        if pending.isEmpty { return }
        var resolved: [TopicPartition: Int64] = [:]
        let needCommitted = pending.filter { $0.1 == .committed }.map(\.0)
        var committed: [TopicPartition: Int64] = [:]
        if !needCommitted.isEmpty { committed = try await fetchCommitted(needCommitted) }
        var earliest: [TopicPartition] = []
        var latest: [TopicPartition] = []
        for (tp, start) in pending {
            switch start {
            case .offset(let o): resolved[tp] = o
            case .earliest: earliest.append(tp)
            case .latest: latest.append(tp)
            case .committed:
                if let c = committed[tp], c >= 0 {
                    resolved[tp] = c
                } else if config.offsetReset == .earliest {
                    earliest.append(tp)
                } else {
                    latest.append(tp)
                }
            }
        }
        if !earliest.isEmpty { resolved.merge(try await KafkaAdmin.listOffsets(cluster: cluster, earliest, timestamp: -2)) { $1 } }
        if !latest.isEmpty { resolved.merge(try await KafkaAdmin.listOffsets(cluster: cluster, latest, timestamp: -1)) { $1 } }
        state.withLockedValue { state in
            guard state.assignmentEpoch == epoch else { return }
            for (tp, offset) in resolved where state.positions[tp] != nil { state.positions[tp] = offset }
        }
    }

    // MARK: Group membership

    private func coordinatorConnection() async throws -> KafkaConnection {
        if let existing = state.withLockedValue({ $0.coordinator }), existing.isActive { return existing }
        guard let groupId else { throw KafkaError.invalidArgument("this operation needs a groupId") }
        let response = try await cluster.withRetries("FindCoordinator") {
            try await self.cluster.anyConnection().send(FindCoordinatorRequest(key: groupId), timeout: self.cluster.configuration.requestTimeout)
        }
        guard response.errorCode == .none else {
            throw KafkaError.broker(code: response.errorCode, context: "FindCoordinator for group \(groupId)")
        }
        let connection = try await cluster.openDedicated(host: response.host, port: Int(response.port))
        let old: KafkaConnection? = state.withLockedValue { state in
            let old = state.coordinator
            state.coordinator = connection
            return old
        }
        if let old { await old.close() }
        return connection
    }

    private func dropCoordinator() async {
        let old = state.withLockedValue { state -> KafkaConnection? in
            defer { state.coordinator = nil }
            return state.coordinator
        }
        await old?.close()
    }

    /// Joins (or rejoins) and syncs, then installs the assignment. Bounded number of rounds.
    private func joinGroup() async throws {
        guard let groupId else { return }
        let previous = state.withLockedValue { $0.heartbeat }
        previous?.cancel()
        await previous?.value
        var previouslyOwned: [TopicPartition] = []
        var action = state.withLockedValue { state in
            previouslyOwned = state.positions.keys.sorted()
            state.positions.removeAll()
            state.assignmentEpoch += 1
            return state.membership.join()
        }
        let subscription = state.withLockedValue { $0.subscription }
        let owned = previouslyOwned
        let longTimeout = config.rebalanceTimeout + config.sessionTimeout + cluster.configuration.requestTimeout
        // What the last failed round saw, so that giving up says why.
        var lastProblem = "none"
        let started = ContinuousClock.now
        var warned = false
        for round in 0..<100 {
            logger.debug("joining", metadata: ["group": "\(groupId)", "round": "\(round)", "step": "\(action)", "last_problem": "\(lastProblem)"])
            if !warned, ContinuousClock.now - started > config.rebalanceTimeout {
                warned = true
                logger.warning("still joining the consumer group", metadata: [
                    "group": "\(groupId)", "seconds": "\((ContinuousClock.now - started).components.seconds)", "last_problem": "\(lastProblem)"])
            }
            do {
                switch action {
                case .join(let memberId):
                    let connection = try await coordinatorConnection()
                    let response = try await connection.send(
                        joinRequest(groupId: groupId, memberId: memberId, topics: subscription, owned: owned),
                        timeout: longTimeout
                    )
                    var members: [GroupMembershipStateMachine.Member] = []
                    for m in response.members {
                        let sub = try ConsumerProtocol.decodeSubscription(m.metadata)
                        members.append(.init(memberId: m.memberId, topics: sub.topics, ownedPartitions: sub.ownedPartitions))
                    }
                    if response.errorCode != .none { lastProblem = "JoinGroup answered \(response.errorCode)" }
                    action = state.withLockedValue {
                        $0.membership.joinCompleted(
                            errorCode: response.errorCode, generation: response.generationId, memberId: response.memberId,
                            leader: response.leader, members: members
                        )
                    }
                case .sync(let generation, let memberId, let members):
                    var assignments: [(memberId: String, assignment: ByteBuffer)] = []
                    if let members { assignments = try await assignmentPlan(for: members) }
                    let connection = try await coordinatorConnection()
                    let response = try await connection.send(
                        SyncGroupRequest(groupId: groupId, generationId: generation, memberId: memberId, assignments: assignments),
                        timeout: longTimeout
                    )
                    if response.errorCode != .none { lastProblem = "SyncGroup answered \(response.errorCode)" }
                    let partitions = response.errorCode == .none ? try ConsumerProtocol.decodeAssignment(response.assignment) : []
                    action = state.withLockedValue { $0.membership.syncCompleted(errorCode: response.errorCode, partitions: partitions) }
                case .assigned(let generation, let partitions):
                    logger.debug("assigned", metadata: ["generation": "\(generation)", "partitions": "\(partitions)"])
                    let task = Task { await self.heartbeatLoop(groupId: groupId) }
                    state.withLockedValue { state in
                        state.positions = Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64?.none) })
                        state.starts = [:]
                        state.assignmentEpoch += 1
                        state.heartbeat = task
                    }
                    return
                case .findCoordinator:
                    await dropCoordinator()
                    try await Task.sleep(for: cluster.configuration.retryBackoff)
                    action = state.withLockedValue { $0.membership.join() }
                case .fail(let error):
                    throw error
                case .leave, .none:
                    throw KafkaError.group("unexpected state while joining group \(groupId)")
                }
            } catch let error as KafkaError {
                switch error {
                case .connectionClosed, .connectionFailed, .requestTimedOut:
                    lastProblem = "\(error)"
                    await dropCoordinator()
                    try await Task.sleep(for: cluster.configuration.retryBackoff)
                    action = state.withLockedValue { $0.membership.join() }
                default:
                    throw error
                }
            }
        }
        throw KafkaError.group("could not join group \(groupId) after 100 rounds; last problem: \(lastProblem)")
    }

    private func heartbeatLoop(groupId: String) async {
        var lastSuccess = ContinuousClock.now
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: config.heartbeatInterval)
            } catch {
                return
            }
            let (generation, memberId, stable) = state.withLockedValue { ($0.membership.generation, $0.membership.memberId, $0.membership.isStable) }
            guard stable else { return }
            let code: KafkaErrorCode
            do {
                let connection = try await coordinatorConnection()
                code = try await connection.send(
                    HeartbeatRequest(groupId: groupId, generationId: generation, memberId: memberId),
                    timeout: config.sessionTimeout
                ).errorCode
                lastSuccess = .now
            } catch {
                await dropCoordinator()
                if ContinuousClock.now - lastSuccess > config.sessionTimeout {
                    state.withLockedValue { _ = $0.membership.sessionLost() }
                    return
                }
                continue
            }
            let action = state.withLockedValue { $0.membership.heartbeatCompleted(errorCode: code) }
            switch action {
            case .none:
                continue
            case .findCoordinator:
                await dropCoordinator()
            case .join:
                logger.debug("rebalance: rejoining on next poll", metadata: ["code": "\(code)"])
                return
            case .fail(let error):
                state.withLockedValue { $0.fatal = error }
                return
            default:
                return
            }
        }
    }

    private func joinRequest(groupId: String, memberId: String, topics: [String], owned: [TopicPartition]) -> JoinGroupRequest {
        JoinGroupRequest(
            groupId: groupId,
            sessionTimeoutMs: Int32(config.sessionTimeout.milliseconds),
            rebalanceTimeoutMs: Int32(config.rebalanceTimeout.milliseconds),
            memberId: memberId,
            protocols: [(config.assignor.rawValue, ConsumerProtocol.encodeSubscription(topics: topics, ownedPartitions: owned))]
        )
    }

    /// The leader's plan: each member's partitions, encoded for SyncGroup.
    private func assignmentPlan(for members: [GroupMembershipStateMachine.Member]) async throws -> [(memberId: String, assignment: ByteBuffer)] {
        var counts: [String: Int] = [:]
        for topic in Set(members.flatMap(\.topics)) {
            await cluster.invalidate(topic: topic)
            counts[topic] = try await cluster.topicInfo(topic).count
        }
        let plan = switch config.assignor {
        case .range: PartitionAssignor.range(members: members, partitionCounts: counts)
        case .roundRobin: PartitionAssignor.roundRobin(members: members, partitionCounts: counts)
        case .sticky: PartitionAssignor.sticky(members: members, partitionCounts: counts)
        }
        return members.map { ($0.memberId, ConsumerProtocol.encodeAssignment(plan[$0.memberId] ?? [])) }
    }

    /// A member that leaves while its group rebalances first lets the rebalance finish: it joins,
    /// and if it is the leader, it assigns every partition to the others and syncs; only then does
    /// it leave. Leaving a group that is still forming strands it on Tansu: the broker keeps the
    /// departed member as leader (a formed group forgets a leader that leaves, a forming one does
    /// not) and the others wait for an assignment that never comes. On Kafka this costs one quick
    /// extra rebalance. A follower's join simply returns; its leave strands nothing.
    private func completeRebalanceBeforeLeaving(groupId: String, memberId: String) async throws {
        let subscription = state.withLockedValue { $0.subscription }
        let connection = try await coordinatorConnection()
        let join = try await connection.send(
            joinRequest(groupId: groupId, memberId: memberId, topics: subscription, owned: []),
            timeout: config.rebalanceTimeout + config.sessionTimeout + cluster.configuration.requestTimeout
        )
        guard join.errorCode == .none, join.leader == memberId else { return }
        var others: [GroupMembershipStateMachine.Member] = []
        for member in join.members where member.memberId != memberId {
            let sub = try ConsumerProtocol.decodeSubscription(member.metadata)
            others.append(.init(memberId: member.memberId, topics: sub.topics, ownedPartitions: sub.ownedPartitions))
        }
        let assignments = try await assignmentPlan(for: others) + [(memberId, ConsumerProtocol.encodeAssignment([]))]
        _ = try await connection.send(
            SyncGroupRequest(groupId: groupId, generationId: join.generationId, memberId: memberId, assignments: assignments),
            timeout: config.rebalanceTimeout + config.sessionTimeout + cluster.configuration.requestTimeout
        )
        logger.debug("handed the group over before leaving", metadata: ["group": "\(groupId)", "members": "\(others.count)"])
    }

    // MARK: Offsets

    private func fetchCommitted(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        guard let groupId else { throw KafkaError.invalidArgument("committed offsets need a groupId") }
        let connection = try await coordinatorConnection()
        let response = try await connection.send(OffsetFetchRequest(groupId: groupId, partitions: partitions), timeout: cluster.configuration.requestTimeout)
        guard response.errorCode == .none else { throw KafkaError.broker(code: response.errorCode, context: "OffsetFetch for group \(groupId)") }
        var out: [TopicPartition: Int64] = [:]
        for (tp, entry) in response.offsets {
            guard entry.errorCode == .none || entry.errorCode == .unknownTopicOrPartition else {
                throw KafkaError.broker(code: entry.errorCode, context: "OffsetFetch \(tp) for group \(groupId)")
            }
            out[tp] = entry.offset
        }
        return out
    }

    /// The committed offsets of the group for these partitions (-1 when none).
    public func committed(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        try await fetchCommitted(partitions)
    }

    /// Commits, for each partition, the offset of the next record to read.
    public func commit(_ offsets: [TopicPartition: Int64]) async throws {
        guard let groupId else { throw KafkaError.invalidArgument("commit needs a groupId") }
        if offsets.isEmpty { return }
        for (tp, offset) in offsets where offset < 0 {
            throw KafkaError.invalidArgument("cannot commit negative offset \(offset) for \(tp)")
        }
        let (generation, memberId) = state.withLockedValue { state in
            state.groupMode ? (state.membership.generation, state.membership.memberId) : (-1, "")
        }
        let connection = try await coordinatorConnection()
        let response = try await connection.send(
            OffsetCommitRequest(groupId: groupId, generationId: generation, memberId: memberId, offsets: offsets),
            timeout: cluster.configuration.requestTimeout
        )
        for (tp, code) in response.results where code != .none {
            throw KafkaError.broker(code: code, context: "OffsetCommit \(tp) for group \(groupId)")
        }
    }

    /// Commits the position after each of these records.
    public func commit(records: [ConsumerRecord]) async throws {
        var offsets: [TopicPartition: Int64] = [:]
        for r in records {
            let tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets[tp] ?? 0, r.offset + 1)
        }
        try await commit(offsets)
    }

    /// Leaves the group (so that the others take over at once) and closes the connections.
    public func close() async {
        let (task, action, rebalancing) = state.withLockedValue { state -> (Task<Void, Never>?, GroupMembershipStateMachine.Action, Bool) in
            state.closed = true
            let rebalancing = state.groupMode && state.membership.isRebalancing
            return (state.heartbeat, state.membership.leave(), rebalancing)
        }
        task?.cancel()
        await task?.value
        if case .leave(let memberId) = action, let groupId, rebalancing {
            // Unstructured, so that a caller that is being cancelled (a service shutting down) still
            // completes it; bounded by the rebalance timeout.
            let handOver = Task { try await self.completeRebalanceBeforeLeaving(groupId: groupId, memberId: memberId) }
            let timer = Task {
                try await Task.sleep(for: self.config.rebalanceTimeout)
                handOver.cancel()
            }
            do {
                try await handOver.value
            } catch {
                logger.debug("could not complete the rebalance before leaving", metadata: ["group": "\(groupId)", "error": "\(error)"])
            }
            timer.cancel()
        }
        if case .leave(let memberId) = action, let groupId {
            // Also when the coordinator connection was dropped (a broker restart, a join that failed
            // half-way): a member that never says goodbye stays in the group until the broker evicts
            // it, and on some brokers it is elected leader meanwhile and stalls everyone else's sync.
            if let coordinator = try? await coordinatorConnection() {
                _ = try? await coordinator.send(LeaveGroupRequest(groupId: groupId, memberId: memberId), timeout: cluster.configuration.requestTimeout)
            }
        }
        let coordinator = state.withLockedValue { $0.coordinator }
        await coordinator?.close()
        await cluster.close()
    }
}

/// The order of partitions in a consumer's fetch requests. A broker may end a fetch before it has
/// read every partition (Kafka at its size limits, Tansu when its fetch wait is up); asking first
/// for the partitions that gave nothing last time makes every partition come up in turn.
enum FetchOrder {
    /// The assigned partitions, in the order left by the last fetch; new ones last, sorted.
    static func next(previous: [TopicPartition], assigned: Set<TopicPartition>) -> [TopicPartition] {
        let kept = previous.filter { assigned.contains($0) }
        let listed = Set(kept)
        return kept + assigned.filter { !listed.contains($0) }.sorted()
    }

    /// `order` after a fetch: the partitions that gave records move to the end, both groups
    /// keeping their order.
    static func after(_ order: [TopicPartition], served: Set<TopicPartition>) -> [TopicPartition] {
        order.filter { !served.contains($0) } + order.filter { served.contains($0) }
    }
}
