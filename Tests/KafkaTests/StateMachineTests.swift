import NIOCore
import Testing

@testable import Kafka

@Suite("Producer accumulator state machine")
struct ProducerAccumulatorTests {
    final class Token {}
    typealias Machine = ProducerAccumulatorStateMachine<Token>

    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    let tp0 = TopicPartition("t", 0)
    let tp1 = TopicPartition("t", 1)

    func append(_ m: inout Machine, _ tp: TopicPartition, _ token: Token, _ index: Int, size: Int = 10, at now: NIODeadline) -> Bool {
        m.append(tp, key: nil, value: [UInt8](repeating: 1, count: size), headers: [], timestamp: 0, token: token, index: index, now: now)
    }

    @Test("a batch waits for the linger time, then is drained")
    func linger() {
        var m = Machine(linger: .milliseconds(5), batchBytes: 1 << 20, maxAttempts: 3)
        let token = Token()
        #expect(!append(&m, tp0, token, 0, at: t0))
        do { let r = m.drain(now: t0).isEmpty; #expect(r) }
        #expect(m.nextDeadline() == t0 + .milliseconds(5))
        let batches = m.drain(now: t0 + .milliseconds(5))
        #expect(batches.count == 1)
        #expect(batches[0].recordCount == 1)
        #expect(m.inFlight == [tp0])
    }

    @Test("a full batch is ready at once and the next record starts a new batch")
    func sizeBound() {
        var m = Machine(linger: .seconds(10), batchBytes: 200, maxAttempts: 3)
        let token = Token()
        var full = false
        var i = 0
        while !full && i < 100 {
            full = append(&m, tp0, token, i, size: 50, at: t0)
            i += 1
        }
        #expect(full)
        let first = m.drain(now: t0)
        #expect(first.count == 1)
        #expect(first[0].builder.sizeInBytes <= 200)
        #expect(first[0].recordCount == i - 1)
        #expect(first[0].pieces.count == 1 && first[0].pieces[0].count == i - 1)
    }

    @Test("one batch in flight per partition keeps order; other partitions proceed")
    func perPartitionOrder() {
        var m = Machine(linger: .zero, batchBytes: 100, maxAttempts: 3)
        let token = Token()
        for i in 0..<6 { _ = append(&m, tp0, token, i, size: 40, at: t0) }
        _ = append(&m, tp1, token, 6, size: 40, at: t0)
        let first = m.drain(now: t0)
        #expect(Set(first.map(\.partition)) == [tp0, tp1])
        #expect(m.drain(now: t0).isEmpty)  // tp0 still in flight
        m.completed(tp0)
        let second = m.drain(now: t0)
        #expect(second.map(\.partition) == [tp0])
        #expect(second[0].pieces[0].firstIndex > first.first { $0.partition == tp0 }!.pieces[0].firstIndex)
    }

    @Test("a retried batch goes back to the head of its partition after the backoff")
    func retry() {
        var m = Machine(linger: .zero, batchBytes: 100, maxAttempts: 2)
        let token = Token()
        for i in 0..<4 { _ = append(&m, tp0, token, i, size: 40, at: t0) }
        let first = m.drain(now: t0)[0]
        do { let r = m.retry(first, now: t0, backoff: .milliseconds(100)); #expect(r) }
        do { let r = m.drain(now: t0 + .milliseconds(50)).isEmpty; #expect(r) }
        #expect(m.nextDeadline() == t0 + .milliseconds(100))
        let again = m.drain(now: t0 + .milliseconds(100))
        #expect(again.count == 1 && again[0].pieces[0].firstIndex == first.pieces[0].firstIndex)
        let retriedAgain = m.retry(again[0], now: t0, backoff: .zero)
        #expect(!retriedAgain)  // attempts used up
    }

    @Test("flush makes open batches ready regardless of linger; idle when all completed")
    func flush() {
        var m = Machine(linger: .seconds(60), batchBytes: 1 << 20, maxAttempts: 3)
        let token = Token()
        _ = append(&m, tp0, token, 0, at: t0)
        _ = append(&m, tp1, token, 1, at: t0)
        do { let r = m.drain(now: t0).isEmpty; #expect(r) }
        m.flushAll()
        let batches = m.drain(now: t0)
        #expect(batches.count == 2)
        #expect(!m.isIdle)
        for b in batches { m.completed(b.partition) }
        #expect(m.isIdle)
    }

    @Test("records from different callers are kept as separate pieces")
    func pieces() {
        var m = Machine(linger: .zero, batchBytes: 1 << 20, maxAttempts: 3)
        let a = Token(), b = Token()
        _ = append(&m, tp0, a, 0, at: t0)
        _ = append(&m, tp0, a, 1, at: t0)
        _ = append(&m, tp0, b, 0, at: t0)
        let batch = m.drain(now: t0)[0]
        #expect(batch.pieces.count == 2)
        #expect(batch.pieces[0].count == 2 && batch.pieces[0].firstOffsetDelta == 0)
        #expect(batch.pieces[1].token === b && batch.pieces[1].firstOffsetDelta == 2)
    }
}

@Suite("Group membership state machine")
struct GroupMembershipTests {
    typealias Machine = GroupMembershipStateMachine

    @Test("new member: MEMBER_ID_REQUIRED, rejoin with the id, lead, sync, stable")
    func leaderJoin() {
        var m = Machine()
        #expect(m.needsJoin)
        do { let r = m.join(); #expect(r == .join(memberId: "")) }
        do { let r = m.joinCompleted(errorCode: .memberIdRequired, generation: -1, memberId: "m1", leader: "", members: []); #expect(r == .join(memberId: "m1")) }
        let members = [Machine.Member(memberId: "m1", topics: ["t"])]
        do { let r = m.joinCompleted(errorCode: .none, generation: 0, memberId: "m1", leader: "m1", members: members); #expect(r == .sync(generation: 0, memberId: "m1", members: members)) }
        do { let r = m.syncCompleted(errorCode: .none, partitions: [TopicPartition("t", 0)]); #expect(r == .assigned(generation: 0, partitions: [TopicPartition("t", 0)])) }
        #expect(m.isStable && !m.needsJoin)
        do { let r = m.heartbeatCompleted(errorCode: .none); #expect(r == Machine.Action.none) }
    }

    @Test("a follower syncs without computing an assignment")
    func follower() {
        var m = Machine()
        _ = m.join()
        do { let r = m.joinCompleted(errorCode: .none, generation: 4, memberId: "m2", leader: "m1", members: []); #expect(r == .sync(generation: 4, memberId: "m2", members: nil)) }
    }

    @Test("heartbeat REBALANCE_IN_PROGRESS revokes and asks to rejoin with the same id")
    func rebalance() {
        var m = stable()
        do { let r = m.heartbeatCompleted(errorCode: .rebalanceInProgress); #expect(r == .join(memberId: "m1")) }
        #expect(m.needsJoin && !m.isStable)
        do { let r = m.join(); #expect(r == .join(memberId: "m1")) }
    }

    @Test("UNKNOWN_MEMBER_ID resets the member id")
    func unknownMember() {
        var m = stable()
        do { let r = m.heartbeatCompleted(errorCode: .unknownMemberId); #expect(r == .join(memberId: "")) }
        #expect(m.memberId == "")
    }

    @Test("SyncGroup REBALANCE_IN_PROGRESS and ILLEGAL_GENERATION rejoin")
    func syncRetries() {
        var m = Machine()
        _ = m.join()
        _ = m.joinCompleted(errorCode: .none, generation: 1, memberId: "m1", leader: "m9", members: [])
        do { let r = m.syncCompleted(errorCode: .rebalanceInProgress, partitions: []); #expect(r == .join(memberId: "m1")) }
        _ = m.joinCompleted(errorCode: .none, generation: 2, memberId: "m1", leader: "m9", members: [])
        do { let r = m.syncCompleted(errorCode: .illegalGeneration, partitions: []); #expect(r == .join(memberId: "m1")) }
    }

    @Test("coordinator moved: find it again")
    func coordinatorMoved() {
        var m = Machine()
        _ = m.join()
        do { let r = m.joinCompleted(errorCode: .notCoordinator, generation: -1, memberId: "", leader: "", members: []); #expect(r == .findCoordinator) }
        var s = stable()
        do { let r = s.heartbeatCompleted(errorCode: .coordinatorNotAvailable); #expect(r == .findCoordinator) }
        #expect(s.isStable)
    }

    @Test("a fatal join error is reported, unknown codes included")
    func fatal() {
        var m = Machine()
        _ = m.join()
        do { let r = m.joinCompleted(errorCode: .invalidSessionTimeout, generation: -1, memberId: "", leader: "", members: []); #expect(r == .fail(.broker(code: .invalidSessionTimeout, context: "JoinGroup"))) }
        _ = m.join()
        do { let r = m.joinCompleted(errorCode: KafkaErrorCode(999), generation: -1, memberId: "", leader: "", members: []); #expect(r == .fail(.broker(code: KafkaErrorCode(999), context: "JoinGroup"))) }
    }

    @Test("leave sends LeaveGroup once; a never-joined member sends nothing")
    func leave() {
        var m = stable()
        do { let r = m.leave(); #expect(r == .leave(memberId: "m1")) }
        do { let r = m.leave(); #expect(r == Machine.Action.none) }
        do { let r = m.join(); #expect(r == .fail(.closed("consumer"))) }
        var fresh = Machine()
        do { let r = fresh.leave(); #expect(r == Machine.Action.none) }
    }

    @Test("session lost while stable: rejoin as a new member")
    func sessionLost() {
        var m = stable()
        do { let r = m.sessionLost(); #expect(r == .join(memberId: "")) }
        #expect(m.needsJoin)
    }

    @Test("stale responses after a state change are ignored")
    func staleResponses() {
        var m = stable()
        do { let r = m.joinCompleted(errorCode: .none, generation: 9, memberId: "x", leader: "x", members: []); #expect(r == Machine.Action.none) }
        do { let r = m.syncCompleted(errorCode: .none, partitions: []); #expect(r == Machine.Action.none) }
        _ = m.heartbeatCompleted(errorCode: .rebalanceInProgress)
        do { let r = m.heartbeatCompleted(errorCode: .none); #expect(r == Machine.Action.none) }
    }

    func stable() -> Machine {
        var m = Machine()
        _ = m.join()
        _ = m.joinCompleted(errorCode: .none, generation: 3, memberId: "m1", leader: "m1", members: [])
        _ = m.syncCompleted(errorCode: .none, partitions: [])
        return m
    }
}

@Suite("Partition assignors")
struct AssignorTests {
    typealias Member = GroupMembershipStateMachine.Member

    @Test("range: consecutive ranges, first members get the extra partitions")
    func range() {
        let members = [Member(memberId: "b", topics: ["t"]), Member(memberId: "a", topics: ["t", "u"])]
        let plan = PartitionAssignor.range(members: members, partitionCounts: ["t": 5, "u": 2])
        #expect(plan["a"] == [TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 2), TopicPartition("u", 0), TopicPartition("u", 1)])
        #expect(plan["b"] == [TopicPartition("t", 3), TopicPartition("t", 4)])
    }

    @Test("range: more members than partitions leaves some empty")
    func rangeSparse() {
        let members = (0..<3).map { Member(memberId: "m\($0)", topics: ["t"]) }
        let plan = PartitionAssignor.range(members: members, partitionCounts: ["t": 2])
        #expect(plan["m0"]!.count == 1 && plan["m1"]!.count == 1 && plan["m2"]!.isEmpty)
    }

    @Test("round robin: every partition exactly once, balanced")
    func roundRobin() {
        let members = [Member(memberId: "a", topics: ["t"]), Member(memberId: "b", topics: ["t"])]
        let plan = PartitionAssignor.roundRobin(members: members, partitionCounts: ["t": 4])
        #expect(plan["a"]!.count == 2 && plan["b"]!.count == 2)
        #expect(Set(plan.values.flatMap { $0 }).count == 4)
    }

    @Test("sticky: members keep what they owned; a newcomer gets a fair share of the rest")
    func stickyKeeps() {
        let t = (0..<4).map { TopicPartition("t", Int32($0)) }
        // A owned everything; B joins: A keeps two of its own, B takes the other two
        let plan = PartitionAssignor.sticky(
            members: [Member(memberId: "b", topics: ["t"]), Member(memberId: "a", topics: ["t"], ownedPartitions: t)],
            partitionCounts: ["t": 4]
        )
        #expect(plan["a"] == [t[0], t[1]])
        #expect(plan["b"] == [t[2], t[3]])
        // B had 1 and 3, A had 0 and 2; C joins with 6 partitions: nobody loses what it had
        let six = (0..<6).map { TopicPartition("t", Int32($0)) }
        let next = PartitionAssignor.sticky(
            members: [
                Member(memberId: "a", topics: ["t"], ownedPartitions: [six[0], six[2]]),
                Member(memberId: "b", topics: ["t"], ownedPartitions: [six[1], six[3]]),
                Member(memberId: "c", topics: ["t"]),
            ],
            partitionCounts: ["t": 6]
        )
        #expect(next["a"] == [six[0], six[2]])
        #expect(next["b"] == [six[1], six[3]])
        #expect(next["c"] == [six[4], six[5]])
    }

    @Test("sticky: a partition claimed twice goes to one member; gone partitions are dropped")
    func stickyConflicts() {
        let plan = PartitionAssignor.sticky(
            members: [
                Member(memberId: "a", topics: ["t"], ownedPartitions: [TopicPartition("t", 0), TopicPartition("t", 9)]),
                Member(memberId: "b", topics: ["t"], ownedPartitions: [TopicPartition("t", 0)]),
            ],
            partitionCounts: ["t": 3]
        )
        let all = (plan["a"] ?? []) + (plan["b"] ?? [])
        #expect(all.sorted() == [TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 2)])
        #expect(plan["a"]!.contains(TopicPartition("t", 0)))
        #expect(abs(plan["a"]!.count - plan["b"]!.count) <= 1)
    }

    @Test("every assignor covers every partition exactly once", arguments: [KafkaConsumerConfiguration.Assignor.range, .roundRobin, .sticky])
    func coverage(assignor: KafkaConsumerConfiguration.Assignor) {
        let members = (0..<3).map { Member(memberId: "m\($0)", topics: ["t", "u"], ownedPartitions: $0 == 0 ? [TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("u", 0)] : []) }
        let counts = ["t": 7, "u": 2]
        let plan = switch assignor {
        case .range: PartitionAssignor.range(members: members, partitionCounts: counts)
        case .roundRobin: PartitionAssignor.roundRobin(members: members, partitionCounts: counts)
        case .sticky: PartitionAssignor.sticky(members: members, partitionCounts: counts)
        }
        let all = plan.values.flatMap { $0 }
        #expect(all.count == 9)
        #expect(Set(all).count == 9)
        if assignor != .range {
            let sizes = plan.values.map(\.count)
            #expect(sizes.max()! - sizes.min()! <= 1)
        }
    }
}

@Suite("Fetch order")
struct FetchOrderTests {
    let p = (0..<4).map { TopicPartition("t", Int32($0)) }

    @Test("a broker that answers only the first two partitions of each fetch still serves all four in turn")
    func everyPartitionInTurn() {
        var order = FetchOrder.next(previous: [], assigned: Set(p))
        #expect(order == p)
        var served: [[Int32]] = []
        for _ in 0..<3 {
            let answered = Set(order.prefix(2))
            served.append(order.prefix(2).map(\.partition))
            order = FetchOrder.after(order, served: answered)
            order = FetchOrder.next(previous: order, assigned: Set(p))
        }
        #expect(served == [[0, 1], [2, 3], [0, 1]])
    }

    @Test("revoked partitions leave the order; newly assigned ones join at the end, sorted")
    func assignmentChanges() {
        let order = FetchOrder.after(p, served: [p[0]])  // 1, 2, 3, 0
        let next = FetchOrder.next(previous: order, assigned: [p[0], p[2], TopicPartition("u", 1), TopicPartition("u", 0)])
        #expect(next == [p[2], p[0], TopicPartition("u", 0), TopicPartition("u", 1)])
    }
}
