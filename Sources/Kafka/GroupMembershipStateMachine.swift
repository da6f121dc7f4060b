/// Classic consumer-group membership (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), free of I/O.
///
/// The driver performs the returned action and feeds the response back. A rebalance discovered by
/// a heartbeat only marks the member as needing to rejoin; the consumer rejoins on its next poll,
/// after the application has committed what it processed.
struct GroupMembershipStateMachine: Sendable {
    enum State: Sendable, Equatable {
        case unjoined
        case joining
        case syncing(generation: Int32)
        case stable(generation: Int32)
        case left
    }

    enum Action: Sendable, Equatable {
        /// Send JoinGroup with this member id ("" for a new member).
        case join(memberId: String)
        /// Send SyncGroup; a leader computes the assignment for `members` (member id, subscribed topics).
        case sync(generation: Int32, memberId: String, members: [Member]?)
        /// The member owns these partitions in this generation.
        case assigned(generation: Int32, partitions: [TopicPartition])
        /// Find the coordinator again, then repeat the join.
        case findCoordinator
        /// Send LeaveGroup for this member.
        case leave(memberId: String)
        /// Nothing to do.
        case none
        case fail(KafkaError)
    }

    struct Member: Sendable, Equatable {
        var memberId: String
        var topics: [String]
        /// What the member owned before this rebalance (for the sticky assignor).
        var ownedPartitions: [TopicPartition] = []
    }

    private(set) var state: State = .unjoined
    private(set) var memberId = ""
    private(set) var generation: Int32 = -1

    /// True when the next poll must (re)join the group.
    var needsJoin: Bool {
        switch state {
        case .unjoined, .joining: true
        default: false
        }
    }

    /// True while a rebalance this member takes part in is under way: it has to rejoin, or it has
    /// joined and not synced yet.
    var isRebalancing: Bool {
        guard !memberId.isEmpty else { return false }
        switch state {
        case .joining, .syncing: return true
        default: return false
        }
    }

    var isStable: Bool {
        if case .stable = state { return true }
        return false
    }

    /// Begins or restarts a join.
    mutating func join() -> Action {
        guard state != .left else { return .fail(.closed("consumer")) }
        state = .joining
        return .join(memberId: memberId)
    }

    mutating func joinCompleted(errorCode: KafkaErrorCode, generation: Int32, memberId: String, leader: String, members: [Member]) -> Action {
        guard state == .joining else { return .none }
        switch errorCode {
        case .none:
            self.memberId = memberId
            self.generation = generation
            state = .syncing(generation: generation)
            return .sync(generation: generation, memberId: memberId, members: leader == memberId ? members : nil)
        case .memberIdRequired:
            self.memberId = memberId
            return .join(memberId: memberId)
        case .unknownMemberId:
            self.memberId = ""
            return .join(memberId: "")
        case .rebalanceInProgress, .coordinatorLoadInProgress:
            return .join(memberId: self.memberId)
        case .coordinatorNotAvailable, .notCoordinator:
            return .findCoordinator
        default:
            state = .unjoined
            return .fail(.broker(code: errorCode, context: "JoinGroup"))
        }
    }

    mutating func syncCompleted(errorCode: KafkaErrorCode, partitions: [TopicPartition]) -> Action {
        guard case .syncing(let generation) = state else { return .none }
        switch errorCode {
        case .none:
            state = .stable(generation: generation)
            return .assigned(generation: generation, partitions: partitions)
        case .rebalanceInProgress, .illegalGeneration:
            state = .joining
            return .join(memberId: memberId)
        case .unknownMemberId:
            memberId = ""
            state = .joining
            return .join(memberId: "")
        case .coordinatorNotAvailable, .notCoordinator:
            state = .joining
            return .findCoordinator
        default:
            state = .unjoined
            return .fail(.broker(code: errorCode, context: "SyncGroup"))
        }
    }

    /// Feeds a heartbeat answer. A rebalance moves the member to `joining` (its partitions are
    /// revoked) and returns `.join`, which the consumer performs on its next poll.
    mutating func heartbeatCompleted(errorCode: KafkaErrorCode) -> Action {
        guard case .stable = state else { return .none }
        switch errorCode {
        case .none:
            return .none
        case .rebalanceInProgress, .illegalGeneration:
            state = .joining
            return .join(memberId: memberId)
        case .unknownMemberId:
            memberId = ""
            state = .joining
            return .join(memberId: "")
        case .coordinatorNotAvailable, .notCoordinator, .coordinatorLoadInProgress:
            return .findCoordinator
        default:
            state = .joining
            return .fail(.broker(code: errorCode, context: "Heartbeat"))
        }
    }

    /// The coordinator could not be reached for longer than a session: the broker has dropped us.
    mutating func sessionLost() -> Action {
        guard state != .left else { return .none }
        memberId = ""
        state = .joining
        return .join(memberId: "")
    }

    mutating func leave() -> Action {
        let wasMember = state != .left && state != .unjoined && !memberId.isEmpty
        state = .left
        return wasMember ? .leave(memberId: memberId) : .none
    }
}
