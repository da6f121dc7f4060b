import NIOCore

/// The producer's batching logic, free of I/O so that it can be tested alone.
///
/// Records are appended to an open batch per partition. A batch is sent when it reaches the size
/// bound or has waited the linger time. Each partition has at most one batch in flight, so records
/// of a partition are written in order even when a batch is retried.
struct ProducerAccumulatorStateMachine<Token: AnyObject> {
    /// A run of consecutive records in a batch that came from one caller.
    struct Piece {
        var token: Token
        /// Index of the first record in the caller's list.
        var firstIndex: Int
        /// Offset delta of the first record in the batch.
        var firstOffsetDelta: Int32
        var count: Int
    }

    struct Batch {
        var partition: TopicPartition
        var builder: RecordBatchBuilder
        var pieces: [Piece] = []
        var createdAt: NIODeadline
        var attempts = 0
        var notBefore: NIODeadline = .uptimeNanoseconds(0)
        var recordCount: Int { Int(builder.count) }
    }

    let linger: TimeAmount
    let batchBytes: Int
    let maxAttempts: Int
    private var open: [TopicPartition: Batch] = [:]
    private var ready: [TopicPartition: [Batch]] = [:]
    private(set) var inFlight: Set<TopicPartition> = []
    private var flushing = false

    init(linger: TimeAmount, batchBytes: Int, maxAttempts: Int) {
        self.linger = linger
        self.batchBytes = batchBytes
        self.maxAttempts = maxAttempts
    }

    /// True when a full batch is waiting (the sender should wake now).
    @discardableResult
    mutating func append(
        _ tp: TopicPartition,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader],
        timestamp: Int64,
        token: Token,
        index: Int,
        now: NIODeadline
    ) -> Bool {
        let estimate = RecordBatchBuilder.estimatedSize(key: key, value: value, headers: headers)
        var becameReady = false
        if let current = open[tp], current.builder.sizeInBytes + estimate > batchBytes, current.recordCount > 0 {
            ready[tp, default: []].append(current)
            open[tp] = nil
            becameReady = true
        }
        var batch = open.removeValue(forKey: tp)
            ?? Batch(partition: tp, builder: RecordBatchBuilder(capacity: min(batchBytes, 64 * 1024)), createdAt: now)
        let delta = batch.builder.count
        batch.builder.append(key: key, value: value, headers: headers, timestamp: timestamp)
        if let last = batch.pieces.last, last.token === token, last.firstIndex + last.count == index {
            batch.pieces[batch.pieces.count - 1].count += 1
        } else {
            batch.pieces.append(Piece(token: token, firstIndex: index, firstOffsetDelta: delta, count: 1))
        }
        open[tp] = batch
        return becameReady
    }

    /// Makes every open batch ready regardless of linger (used on flush and close).
    mutating func flushAll() {
        flushing = true
        for (tp, batch) in open { ready[tp, default: []].append(batch) }
        open.removeAll()
    }

    mutating func stopFlushing() { flushing = false }

    /// Takes the batches that may be sent now and marks their partitions in flight.
    mutating func drain(now: NIODeadline) -> [Batch] {
        var out: [Batch] = []
        for tp in Set(ready.keys).union(open.keys) where !inFlight.contains(tp) {
            if var queue = ready[tp], let head = queue.first {
                guard head.notBefore <= now else { continue }
                queue.removeFirst()
                ready[tp] = queue.isEmpty ? nil : queue
                out.append(head)
                inFlight.insert(tp)
            } else if let batch = open[tp], flushing || batch.createdAt + linger <= now {
                open[tp] = nil
                out.append(batch)
                inFlight.insert(tp)
            }
        }
        return out
    }

    /// When the sender must look again if nothing else wakes it, or nil if nothing is pending
    /// outside the in-flight partitions.
    func nextDeadline() -> NIODeadline? {
        var deadline: NIODeadline?
        for tp in Set(ready.keys).union(open.keys) where !inFlight.contains(tp) {
            let candidate: NIODeadline
            if let head = ready[tp]?.first {
                candidate = head.notBefore
            } else if let batch = open[tp] {
                candidate = flushing ? .uptimeNanoseconds(0) : batch.createdAt + linger
            } else {
                continue
            }
            deadline = deadline.map { min($0, candidate) } ?? candidate
        }
        return deadline
    }

    /// The batch was written (or failed for good): its partition may send again.
    mutating func completed(_ tp: TopicPartition) {
        inFlight.remove(tp)
    }

    /// Puts a batch that failed with a retriable error back at the head of its partition's queue.
    /// Returns false when it has used all its attempts (the caller then fails its records).
    mutating func retry(_ batch: Batch, now: NIODeadline, backoff: TimeAmount) -> Bool {
        inFlight.remove(batch.partition)
        var batch = batch
        batch.attempts += 1
        guard batch.attempts < maxAttempts else { return false }
        batch.notBefore = now + backoff
        ready[batch.partition, default: []].insert(batch, at: 0)
        return true
    }

    var isIdle: Bool { open.isEmpty && ready.isEmpty && inFlight.isEmpty }
}

extension ProducerAccumulatorStateMachine: Sendable where Token: Sendable {}
extension ProducerAccumulatorStateMachine.Batch: Sendable where Token: Sendable {}
extension ProducerAccumulatorStateMachine.Piece: Sendable where Token: Sendable {}
