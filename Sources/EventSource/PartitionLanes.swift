package import Kafka
import Synchronization

/// Records fetched but not handled yet, queued per partition, so that the consumer can fetch the
/// next records while earlier ones are handled, and a slow partition holds back only itself.
///
/// Each partition with queued records has exactly one lane worker (``take(_:max:)`` until it
/// returns nil), so a partition's records are handled in order. Records are tagged with the
/// assignment they were fetched under: offsets are reported for commit only for records of the
/// current assignment, because after a rejoin or a replaced broker the old positions mean
/// nothing to the group.
package final class PartitionLanes: Sendable {
  package enum Condition: Sendable {
    /// Nothing queued or being handled.
    case idle
    /// Fewer than this many records queued or being handled.
    case below(Int)
    /// A lane worker stopped (its lane ran empty) after ``stoppedWorkers`` was `count`, or nothing
    /// is queued or being handled: some partition is ready for more records.
    case workerStopped(after: Int)
  }

  private struct Run {
    var assignment: Int
    var records: ArraySlice<ConsumerRecord>
  }

  private struct State {
    /// A partition has a lane worker exactly while it has an entry here (empty while the worker
    /// handles the last records it took).
    var queues: [TopicPartition: [Run]] = [:]
    var pending = 0
    var stops = 0
    var assignment = 0
    var handled: [TopicPartition: Int64] = [:]
    var failure: (any Error)?
    var waiters: [(Condition, CheckedContinuation<Void, Never>)] = []

    func holds(_ condition: Condition) -> Bool {
      if failure != nil { return true }
      switch condition {
      case .idle: return pending == 0
      case .below(let limit): return pending < limit
      case .workerStopped(let count): return stops > count || pending == 0
      }
    }

    /// Removes the waiters whose condition now holds and returns them to be resumed.
    mutating func ready() -> [CheckedContinuation<Void, Never>] {
      var resumed: [CheckedContinuation<Void, Never>] = []
      var waiting: [(Condition, CheckedContinuation<Void, Never>)] = []
      for waiter in waiters {
        if holds(waiter.0) { resumed.append(waiter.1) } else { waiting.append(waiter) }
      }
      waiters = waiting
      return resumed
    }
  }

  private let state = Mutex(State())

  package init() {}

  /// Records queued or being handled.
  package var pending: Int { state.withLock { $0.pending } }

  /// How many times a lane worker stopped because its lane ran empty.
  package var stoppedWorkers: Int { state.withLock { $0.stops } }

  /// Starts a new assignment: offsets handled under earlier ones are never reported again.
  package func newAssignment() {
    state.withLock { state in
      state.assignment += 1
      state.handled.removeAll()
    }
  }

  /// Queues a poll's records under the current assignment. Returns the partitions that need a lane
  /// worker: they had none running; they count as running from now on.
  package func enqueue(_ records: [ConsumerRecord]) -> [TopicPartition] {
    var byPartition: [TopicPartition: [ConsumerRecord]] = [:]
    for record in records { byPartition[TopicPartition(record.topic, record.partition), default: []].append(record) }
    return state.withLock { state in
      var start: [TopicPartition] = []
      for (tp, records) in byPartition {
        if state.queues[tp] == nil { start.append(tp) }
        state.queues[tp, default: []].append(Run(assignment: state.assignment, records: records[...]))
        state.pending += records.count
      }
      return start
    }
  }

  /// The next records of `tp` in order (at most `max`, all of one assignment, across as many polls
  /// as they came in), or nil when its queue is empty: the caller's lane worker then stops, and
  /// the next ``enqueue(_:)`` starts another.
  package func take(_ tp: TopicPartition, max: Int) -> (assignment: Int, records: [ConsumerRecord])? {
    let (taken, resumed) = state.withLock { state -> ((Int, [ConsumerRecord])?, [CheckedContinuation<Void, Never>]) in
      guard var runs = state.queues[tp], !runs.isEmpty else {
        state.queues[tp] = nil
        state.stops += 1
        return (nil, state.ready())
      }
      // Whole runs of several polls go together (one transaction for all the lane holds), but
      // never records of two assignments.
      let assignment = runs[0].assignment
      var taken: [ConsumerRecord] = []
      while let run = runs.first, run.assignment == assignment, taken.count < max {
        let part = run.records.prefix(max - taken.count)
        taken.append(contentsOf: part)
        if part.count == run.records.count {
          runs.removeFirst()
        } else {
          runs[0].records = run.records.dropFirst(part.count)
        }
      }
      state.queues[tp] = runs
      return ((assignment, taken), [])
    }
    for continuation in resumed { continuation.resume() }
    return taken.map { (assignment: $0.0, records: $0.1) }
  }

  /// Reports records of `tp` handled (the ones ``take(_:max:)`` returned).
  package func finished(_ tp: TopicPartition, assignment: Int, _ records: [ConsumerRecord]) {
    let resumed = state.withLock { state in
      state.pending -= records.count
      // The last record in lane order, not the highest offset: after the consumer reset a
      // position (an offset out of range on a replaced broker) the later records have lower
      // offsets, and the commit must follow them.
      if assignment == state.assignment, let last = records.last {
        state.handled[tp] = last.offset + 1
      }
      return state.ready()
    }
    for continuation in resumed { continuation.resume() }
  }

  /// Records that a lane worker stopped on `error`; every waiter wakes up.
  package func fail(_ error: any Error) {
    let resumed = state.withLock { state in
      if state.failure == nil { state.failure = error }
      return state.ready()
    }
    for continuation in resumed { continuation.resume() }
  }

  /// The offsets to commit (the next offset after each partition's handled records of the current
  /// assignment) since the last call.
  package func takeHandled() -> [TopicPartition: Int64] {
    state.withLock { state in
      defer { state.handled.removeAll() }
      return state.handled
    }
  }

  /// Returns once `condition` holds; throws the error a lane worker stopped on, if one did.
  package func wait(until condition: Condition) async throws {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let now: Bool = state.withLock { state in
        if state.holds(condition) { return true }
        state.waiters.append((condition, continuation))
        return false
      }
      if now { continuation.resume() }
    }
    if let failure = state.withLock({ $0.failure }) { throw failure }
  }
}
