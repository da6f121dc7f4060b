public import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Publishes records. Records are batched per partition (linger time and size bound), written with
/// acks=all by default, kept in order per partition, and retried on retriable errors. Every record
/// gets its own delivery result.
public final class KafkaProducer: Sendable {
    public typealias DeliveryResult = Result<RecordMetadata, KafkaError>

    /// Collects the results of one `send` call and resumes the caller once all are known.
    final class Delivery: @unchecked Sendable {
        private let lock = NIOLock()
        private var results: [DeliveryResult?]
        private var remaining: Int
        private var continuation: CheckedContinuation<[DeliveryResult], Never>?

        init(count: Int) {
            results = Array(repeating: nil, count: count)
            remaining = count
        }

        func wait() async -> [DeliveryResult] {
            await withCheckedContinuation { continuation in
                let done: [DeliveryResult]? = lock.withLock {
                    if remaining == 0 { return results.map { $0! } }
                    self.continuation = continuation
                    return nil
                }
                if let done { continuation.resume(returning: done) }
            }
        }

        func complete(_ range: Range<Int>, _ result: (Int) -> DeliveryResult) {
            let resume: (CheckedContinuation<[DeliveryResult], Never>, [DeliveryResult])? = lock.withLock {
                for i in range where results[i] == nil {
                    results[i] = result(i - range.lowerBound)
                    remaining -= 1
                }
                guard remaining == 0, let continuation else { return nil }
                self.continuation = nil
                return (continuation, results.map { $0! })
            }
            if let resume { resume.0.resume(returning: resume.1) }
        }
    }

    typealias Accumulator = ProducerAccumulatorStateMachine<Delivery>

    private struct State {
        var accumulator: Accumulator
        var closed = false
        var roundRobin: [String: Int32] = [:]
    }

    private let cluster: KafkaCluster
    private let configuration: KafkaProducerConfiguration
    private let state: NIOLockedValueBox<State>
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let senderTask: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let logger: Logger

    public init(
        configuration: KafkaConfiguration,
        producerConfiguration: KafkaProducerConfiguration = .defaults,
        logger: Logger = Logger(label: "courier.kafka.producer")
    ) {
        self.cluster = KafkaCluster(configuration: configuration)
        self.configuration = producerConfiguration
        self.logger = logger
        self.state = NIOLockedValueBox(
            State(
                accumulator: Accumulator(
                    linger: .init(producerConfiguration.linger),
                    batchBytes: producerConfiguration.batchBytes,
                    maxAttempts: producerConfiguration.maxRetries + 1
                )
            )
        )
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let task = Task { [self] in await self.runSender() }
        senderTask.withLock { $0 = task }
    }

    /// Sends one record and waits for the broker's acknowledgement.
    @discardableResult
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        try await send([record])[0].get()
    }

    /// Sends records and waits until each has a result. The results are in the order of `records`.
    public func send(_ records: [ProducerRecord]) async throws -> [DeliveryResult] {
        if records.isEmpty { return [] }
        var partitionCounts: [String: Int] = [:]
        for topic in Set(records.map(\.topic)) {
            partitionCounts[topic] = try await cluster.topicInfo(topic).count
        }
        let delivery = Delivery(count: records.count)
        let now = NIODeadline.now()
        let nowMs = Int64(Duration.wallClockMillisecondsSinceEpoch())
        var wakeSender = false
        var invalid: [(Int, KafkaError)] = []
        let chunk = 1024
        var start = 0
        while start < records.count {
            let end = min(start + chunk, records.count)
            let closed: Bool = state.withLockedValue { state in
                if state.closed { return true }
                for i in start..<end {
                    let record = records[i]
                    let count = partitionCounts[record.topic]!
                    let partition: Int32
                    if let explicit = record.partition {
                        guard explicit >= 0, explicit < count else {
                            invalid.append((i, .unknownTopicOrPartition(topic: record.topic, partition: explicit)))
                            continue
                        }
                        partition = explicit
                    } else if let key = record.key {
                        partition = KafkaPartitioner.partition(forKey: key, partitionCount: count)
                    } else {
                        let next = state.roundRobin[record.topic, default: 0]
                        state.roundRobin[record.topic] = (next + 1) % Int32(count)
                        partition = next % Int32(count)
                    }
                    if state.accumulator.append(
                        TopicPartition(record.topic, partition),
                        key: record.key,
                        value: record.value,
                        headers: record.headers,
                        timestamp: record.timestamp ?? nowMs,
                        token: delivery,
                        index: i,
                        now: now
                    ) {
                        wakeSender = true
                    }
                }
                return false
            }
            if closed {
                delivery.complete(start..<records.count) { _ in .failure(.closed("producer")) }
                break
            }
            if wakeSender { wake.yield(); wakeSender = false }
            start = end
        }
        for (index, error) in invalid { delivery.complete(index..<(index + 1)) { _ in .failure(error) } }
        wake.yield()
        return await delivery.wait()
    }

    private func runSender() async {
        var iterator = wakeups.makeAsyncIterator()
        while true {
            let (batches, deadline, finished) = state.withLockedValue { state in
                let batches = state.accumulator.drain(now: .now())
                let finished = state.closed && state.accumulator.isIdle
                return (batches, state.accumulator.nextDeadline(), finished)
            }
            if finished { return }
            if !batches.isEmpty {
                let byLeader = await groupByLeader(batches)
                for (leader, group) in byLeader {
                    Task { await self.sendBatches(group, to: leader) }
                }
                continue
            }
            if let deadline {
                let wait = deadline - .now()
                if wait > .zero { try? await Task.sleep(for: .nanoseconds(wait.nanoseconds)) }
            } else {
                guard await iterator.next() != nil else { return }
            }
        }
    }

    private func groupByLeader(_ batches: [Accumulator.Batch]) async -> [Int32: [Accumulator.Batch]] {
        var out: [Int32: [Accumulator.Batch]] = [:]
        for batch in batches {
            do {
                let leader = try await cluster.leader(batch.partition)
                out[leader, default: []].append(batch)
            } catch {
                handleFailure([batch], error: error)
            }
        }
        return out
    }

    private func sendBatches(_ batches: [Accumulator.Batch], to leader: Int32) async {
        var finished = batches.map { $0 }
        var byTopic: [String: [ProduceRequest.PartitionData]] = [:]
        for i in finished.indices {
            let data = finished[i].builder.finish()
            byTopic[finished[i].partition.topic, default: []].append(.init(partition: finished[i].partition.partition, records: data))
        }
        let request = ProduceRequest(
            acks: configuration.acks.rawValue,
            timeoutMs: Int32(configuration.ackTimeout.milliseconds),
            topics: byTopic.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        )
        let response: ProduceResponse
        do {
            let connection = try await cluster.connection(node: leader, leading: finished.map(\.partition))
            response = try await connection.send(request, timeout: configuration.ackTimeout + .seconds(5))
        } catch {
            if case .connectionClosed = error as? KafkaError { await cluster.dropConnection(node: leader) }
            for topic in Set(finished.map(\.partition.topic)) { await cluster.invalidate(topic: topic) }
            handleFailure(finished, error: error)
            return
        }
        for batch in finished {
            let result = response.topics[batch.partition.topic]?.first { $0.partition == batch.partition.partition }
            guard let result else {
                handleFailure([batch], error: KafkaError.malformedFrame("Produce response has no result for \(batch.partition)"))
                continue
            }
            if result.errorCode == .none {
                complete(batch) { .success(RecordMetadata(topic: batch.partition.topic, partition: batch.partition.partition, offset: result.baseOffset + Int64($0))) }
            } else {
                if result.errorCode.needsMetadataRefresh { await cluster.invalidate(topic: batch.partition.topic) }
                handleFailure([batch], error: KafkaError.broker(code: result.errorCode, context: "Produce to \(batch.partition)\(result.errorMessage.map { ": \($0)" } ?? "")"))
            }
        }
        finished.removeAll()
    }

    private func isRetriable(_ error: any Error) -> Bool {
        switch error as? KafkaError {
        case .broker(let code, _): code.isRetriable
        case .connectionClosed, .connectionFailed, .requestTimedOut: true
        default: false
        }
    }

    private func handleFailure(_ batches: [Accumulator.Batch], error: any Error) {
        let kafkaError = error as? KafkaError ?? .connectionFailed(broker: "?", reason: "\(error)")
        for batch in batches {
            let retried = isRetriable(error) && state.withLockedValue { state in
                let backoff = TimeAmount(configuration.retryBackoff) * (1 << min(batch.attempts, 5))
                return state.accumulator.retry(batch, now: .now(), backoff: backoff)
            }
            if retried {
                logger.debug("retrying batch", metadata: ["partition": "\(batch.partition)", "error": "\(kafkaError)"])
            } else {
                complete(batch) { _ in .failure(kafkaError) }
            }
        }
        wake.yield()
    }

    /// Reports results for every record of `batch` (offset delta to result) and frees its partition.
    private func complete(_ batch: Accumulator.Batch, _ result: (Int) -> DeliveryResult) {
        state.withLockedValue { $0.accumulator.completed(batch.partition) }
        for piece in batch.pieces {
            let base = Int(piece.firstOffsetDelta)
            piece.token.complete(piece.firstIndex..<(piece.firstIndex + piece.count)) { result(base + $0) }
        }
        wake.yield()
    }

    /// Sends what is pending, waits for it, and closes the connections.
    public func close() async {
        state.withLockedValue { state in
            state.closed = true
            state.accumulator.flushAll()
        }
        wake.yield()
        let task = senderTask.withLock { $0 }
        // The sender exits once everything in flight is done; sends awaiting results keep it busy.
        await task?.value
        await cluster.close()
    }
}
