/// Assigns partitions to group members. Runs on the group leader.
enum PartitionAssignor {
    /// Kafka's range assignor: per topic, members sorted by id get consecutive ranges; the first
    /// `partitions % members` get one extra.
    static func range(members: [GroupMembershipStateMachine.Member], partitionCounts: [String: Int]) -> [String: [TopicPartition]] {
        var out: [String: [TopicPartition]] = Dictionary(uniqueKeysWithValues: members.map { ($0.memberId, []) })
        for (topic, count) in partitionCounts.sorted(by: { $0.key < $1.key }) {
            let subscribers = members.filter { $0.topics.contains(topic) }.map(\.memberId).sorted()
            guard !subscribers.isEmpty else { continue }
            let per = count / subscribers.count
            let extra = count % subscribers.count
            var next = 0
            for (i, member) in subscribers.enumerated() {
                let n = per + (i < extra ? 1 : 0)
                for p in next..<(next + n) { out[member, default: []].append(TopicPartition(topic, Int32(p))) }
                next += n
            }
        }
        return out
    }

    /// Round-robin over all partitions, sorted, to the members subscribed to each.
    static func roundRobin(members: [GroupMembershipStateMachine.Member], partitionCounts: [String: Int]) -> [String: [TopicPartition]] {
        var out: [String: [TopicPartition]] = Dictionary(uniqueKeysWithValues: members.map { ($0.memberId, []) })
        let sortedMembers = members.sorted { $0.memberId < $1.memberId }
        guard !sortedMembers.isEmpty else { return out }
        var cursor = 0
        for (topic, count) in partitionCounts.sorted(by: { $0.key < $1.key }) {
            for p in 0..<count {
                for _ in 0..<sortedMembers.count {
                    let member = sortedMembers[cursor % sortedMembers.count]
                    cursor += 1
                    if member.topics.contains(topic) {
                        out[member.memberId, default: []].append(TopicPartition(topic, Int32(p)))
                        break
                    }
                }
            }
        }
        return out
    }

    /// Balanced and sticky: every member keeps the partitions it owned (that still exist, that it
    /// still subscribes to and that nobody else claimed) up to its fair share; the remaining
    /// partitions go to the least-loaded subscribed member.
    static func sticky(members: [GroupMembershipStateMachine.Member], partitionCounts: [String: Int]) -> [String: [TopicPartition]] {
        var out: [String: [TopicPartition]] = Dictionary(uniqueKeysWithValues: members.map { ($0.memberId, []) })
        let sortedMembers = members.sorted { $0.memberId < $1.memberId }
        guard !sortedMembers.isEmpty else { return out }
        var all: [TopicPartition] = []
        for (topic, count) in partitionCounts.sorted(by: { $0.key < $1.key }) where sortedMembers.contains(where: { $0.topics.contains(topic) }) {
            for p in 0..<count { all.append(TopicPartition(topic, Int32(p))) }
        }
        let valid = Set(all)
        let floorShare = all.count / sortedMembers.count
        var extraSlots = all.count % sortedMembers.count
        var taken = Set<TopicPartition>()
        for member in sortedMembers {
            let keep = member.ownedPartitions.sorted().filter { valid.contains($0) && member.topics.contains($0.topic) && !taken.contains($0) }
            var limit = floorShare
            if keep.count > floorShare && extraSlots > 0 {
                limit += 1
                extraSlots -= 1
            }
            for tp in keep.prefix(limit) {
                out[member.memberId, default: []].append(tp)
                taken.insert(tp)
            }
        }
        for tp in all where !taken.contains(tp) {
            let candidates = sortedMembers.filter { $0.topics.contains(tp.topic) }
            guard let target = candidates.min(by: { (out[$0.memberId]?.count ?? 0, $0.memberId) < (out[$1.memberId]?.count ?? 0, $1.memberId) }) else { continue }
            out[target.memberId, default: []].append(tp)
            taken.insert(tp)
        }
        return out.mapValues { $0.sorted() }
    }
}
