import EventSource
import Kafka
import Testing

@Suite("Partition lanes of the consumer (no I/O)")
struct PartitionLanesTests {
  private static func records(_ topic: String, _ partition: Int32, _ offsets: ClosedRange<Int64>) -> [ConsumerRecord] {
    offsets.map { ConsumerRecord(topic: topic, partition: partition, offset: $0, timestamp: 0, key: nil, value: nil, headers: []) }
  }

  @Test("a partition gets one worker; it takes its records in order, in runs of at most max, then stops")
  func orderAndWorkers() {
    let lanes = PartitionLanes()
    let a = TopicPartition("t", 0)
    let b = TopicPartition("t", 1)
    #expect(Set(lanes.enqueue(Self.records("t", 0, 0...4) + Self.records("t", 1, 7...7))) == [a, b])
    // a and b have workers now: more records for a start none.
    #expect(lanes.enqueue(Self.records("t", 0, 5...6)) == [])
    #expect(lanes.pending == 8)
    var seen: [Int64] = []
    while let (_, records) = lanes.take(a, max: 3) {
      #expect(records.count <= 3)
      seen += records.map(\.offset)
      lanes.finished(a, assignment: 0, records)
    }
    #expect(seen == Array(0...6))
    // a's worker stopped on an empty lane: the next records of a need a new one.
    #expect(lanes.enqueue(Self.records("t", 0, 7...7)) == [a])
    #expect(lanes.pending == 2)
  }

  @Test("offsets to commit: the next offset after handled records, once, and only of the current assignment")
  func handledOffsets() {
    let lanes = PartitionLanes()
    let a = TopicPartition("t", 0)
    _ = lanes.enqueue(Self.records("t", 0, 10...12))
    let (first, run) = lanes.take(a, max: 10)!
    #expect(lanes.takeHandled().isEmpty, "nothing is handled until the worker says so")
    lanes.finished(a, assignment: first, run)
    #expect(lanes.takeHandled() == [a: 13])
    #expect(lanes.takeHandled().isEmpty, "each handled offset is reported once")

    // Records fetched under an old assignment are still handled, but their offsets are never
    // committed: after a rejoin or a replaced broker they may point past unread records.
    _ = lanes.enqueue(Self.records("t", 0, 13...14))
    let (old, stale) = lanes.take(a, max: 10)!
    lanes.newAssignment()
    _ = lanes.enqueue(Self.records("t", 0, 0...1))
    lanes.finished(a, assignment: old, stale)
    #expect(lanes.takeHandled().isEmpty)
    let (current, fresh) = lanes.take(a, max: 10)!
    #expect(current != old && fresh.map(\.offset) == [0, 1])
    lanes.finished(a, assignment: current, fresh)
    #expect(lanes.takeHandled() == [a: 2])
    #expect(lanes.take(a, max: 10)?.records == nil)
  }

  @Test("after a position was reset, the offset to commit follows the later records, not the highest offset")
  func resetPosition() {
    let lanes = PartitionLanes()
    let a = TopicPartition("t", 0)
    _ = lanes.enqueue(Self.records("t", 0, 90...99))
    _ = lanes.enqueue(Self.records("t", 0, 0...4))  // out of range on a new broker: read from 0
    let (assignment, records) = lanes.take(a, max: 100)!
    lanes.finished(a, assignment: assignment, records)
    #expect(lanes.takeHandled() == [a: 5])
  }

  @Test("a worker takes what several polls queued in one go, up to max")
  func takesAcrossPolls() {
    let lanes = PartitionLanes()
    let a = TopicPartition("t", 0)
    for offset in Int64(0)..<5 { _ = lanes.enqueue(Self.records("t", 0, offset...offset)) }
    #expect(lanes.take(a, max: 3)?.records.map(\.offset) == [0, 1, 2])
    #expect(lanes.take(a, max: 3)?.records.map(\.offset) == [3, 4])
    #expect(lanes.take(a, max: 3)?.records == nil)
  }

  @Test("a run is never mixed across assignments")
  func runsKeepTheirAssignment() {
    let lanes = PartitionLanes()
    let a = TopicPartition("t", 0)
    _ = lanes.enqueue(Self.records("t", 0, 0...1))
    lanes.newAssignment()
    _ = lanes.enqueue(Self.records("t", 0, 0...1))
    let (first, one) = lanes.take(a, max: 10)!
    let (second, two) = lanes.take(a, max: 10)!
    #expect(one.count == 2 && two.count == 2 && first != second)
  }

  @Test("waiters wake when the buffer falls below the limit, when the lanes are idle, and on a failure, which they throw")
  func waiting() async throws {
    let lanes = PartitionLanes()
    let a = TopicPartition("t", 0)
    try await lanes.wait(until: .idle)  // nothing queued: at once
    _ = lanes.enqueue(Self.records("t", 0, 0...3))
    try await withThrowingTaskGroup(of: String.self) { group in
      group.addTask { try await lanes.wait(until: .below(3)); return "below" }
      group.addTask { try await lanes.wait(until: .idle); return "idle" }
      let (assignment, two) = lanes.take(a, max: 2)!
      lanes.finished(a, assignment: assignment, two)
      let first = try await group.next()
      #expect(first == "below")
      let (_, rest) = lanes.take(a, max: 2)!
      lanes.finished(a, assignment: assignment, rest)
      let second = try await group.next()
      #expect(second == "idle")
    }
    struct Broken: Error {}
    _ = lanes.enqueue(Self.records("t", 1, 0...0))
    let woken = Task { try await lanes.wait(until: .idle) }
    lanes.fail(Broken())
    await #expect(throws: Broken.self) { try await woken.value }
    // Every later wait throws it too, whatever its condition.
    await #expect(throws: Broken.self) { try await lanes.wait(until: .below(100)) }
  }
}
