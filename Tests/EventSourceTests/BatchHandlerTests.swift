import CourierTestSupport
import ContractRuntime
import EventSource
import Foundation
import Generated
import Kafka
import Postgres
import Synchronization
import SwiftProtobuf
import Testing

/// The consumer's batch entry point on a real Postgres: records are handed to
/// `EventConsumer.handle(_:)` directly (the broker is not needed for what happens to a poll batch).
@Suite("Event consumer batch handler (Postgres)", .serialized, .sharedCluster)
struct BatchHandlerTests {
  /// What the handlers were called with: the batch sizes and the single events.
  final class Calls: Sendable {
    let batches = Mutex<[Int]>([])
    let singles = Mutex<[UUID]>([])
  }

  @Test("a partition's records go to the batch handler together; a redelivery calls nothing; a failing batch is handled one by one")
  func batchThenFallback() async throws {
    try await withStore { store in
      let schema = store.schema
      let calls = Calls()
      let poison = "poison"
      let consumer = EventConsumer(
        store: store, kafka: KafkaConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: 9)]),
        registry: CourierContracts.events, configuration: consumerConfiguration(group: "batches"),
        batchHandler: .init { events, tx in
          calls.batches.withLock { $0.append(events.count) }
          for event in events {
            #expect(event.attempt == 1)
            try await tx.execute("INSERT INTO \(identifier: schema).side_effects (event_id) VALUES (\(event.id))")
          }
          struct OneIsPoison: Error {}
          let moved = try events.map { try $0.event(as: Courier_Events_V1_DeliveryPayloadChangedLocation.self) }
          if moved.contains(where: { $0.delivererID == poison }) { throw OneIsPoison() }
        },
        handler: { event, tx in
          calls.singles.withLock { $0.append(event.id) }
          try await tx.execute("INSERT INTO \(identifier: schema).side_effects (event_id) VALUES (\(event.id))")
        })

      let first = try (0..<5).map { try record(moved($0, key: "payload-a"), offset: Int64($0)) }
      try await consumer.handle(first.map(\.record))
      #expect(calls.batches.withLock { $0 } == [5])
      #expect(calls.singles.withLock { $0 }.isEmpty)
      #expect(try await store.processedCount(consumer: "batches") == 5)

      // The same records again (a redelivery after a lost offset commit): nothing is called.
      try await consumer.handle(first.map(\.record))
      #expect(calls.batches.withLock { $0 } == [5])
      #expect(calls.singles.withLock { $0 }.isEmpty)

      // A batch with a poisoned event rolls back and its events are handled one at a time.
      var bad = moved(7, key: "payload-a")
      bad.delivererID = poison
      let second = try [record(moved(5, key: "payload-a"), offset: 5), record(bad, offset: 6), record(moved(8, key: "payload-a"), offset: 7)]
      try await consumer.handle(second.map(\.record))
      #expect(calls.batches.withLock { $0 } == [5, 3])
      #expect(calls.singles.withLock { $0 } == second.map(\.id))
      #expect(try await store.processedCount(consumer: "batches") == 8)
      // The rolled-back batch left no side effects: one row per event.
      let effects = try await sideEffects(store)
      #expect(effects.total == 8 && effects.distinct == 8)
    }
  }

  @Test("a batch's reads are made from the offered events and run after the claim, in its transaction")
  func readsTravelWithTheClaim() async throws {
    try await withStore { store in
      let schema = store.schema
      let offered = Mutex<[Int]>([])
      let handled = Mutex<[(events: [UUID], read: [UUID])]>([])
      let consumer = EventConsumer(
        store: store, kafka: KafkaConfiguration(bootstrapServers: [.init(host: "127.0.0.1", port: 9)]),
        registry: CourierContracts.events, configuration: consumerConfiguration(group: "reads"),
        batchHandler: .init(
          reads: { events in
            offered.withLock { $0.append(events.count) }
            // Sees the claim's rows: the reads run after it, in the same transaction.
            return ["SELECT event_id FROM \(identifier: schema).deliveries WHERE consumer = 'reads' ORDER BY event_id"]
          },
          handle: { events, reads, _ in
            let read = try reads[0].map { try $0.decode(UUID.self, at: 0) }
            handled.withLock { $0.append((events.map(\.id), read)) }
          }),
        handler: { _, _ in Issue.record("the single-event handler was called") })

      let first = try (0..<3).map { try record(moved($0, key: "payload-r"), offset: Int64($0)) }
      try await consumer.handle(first.map(\.record))
      // A redelivered record with two new ones: all three are offered, the two new ones claimed.
      let second = try [first[2]] + (3..<5).map { try record(moved($0, key: "payload-r"), offset: Int64($0)) }
      try await consumer.handle(second.map(\.record))

      #expect(offered.withLock { $0 } == [3, 3])
      let calls = handled.withLock { $0 }
      try #require(calls.count == 2)
      #expect(calls[0].events == first.map(\.id))
      #expect(calls[0].read == first.map(\.id).sorted { $0.uuidString < $1.uuidString })
      #expect(calls[1].events == second.dropFirst().map(\.id))
      #expect(calls[1].read == (first + second.dropFirst()).map(\.id).sorted { $0.uuidString < $1.uuidString })
      #expect(try await store.processedCount(consumer: "reads") == 5)
    }
  }

  /// The event as the relay puts it on its topic (partition 0 at `offset`), and its id.
  private func record(
    _ event: Courier_Events_V1_DeliveryPayloadChangedLocation, offset: Int64
  ) throws -> (record: ConsumerRecord, id: UUID) {
    let stored = try EventRecord(event, producer: "tests", headers: [:], occurredAt: Date())
    var envelope = Courier_Events_V1_EventEnvelope()
    envelope.eventID = stored.id.uuidString.lowercased()
    envelope.eventType = stored.type
    envelope.key = stored.key
    envelope.producer = stored.producer
    envelope.payload = stored.payload
    envelope.occurredAt = Google_Protobuf_Timestamp(date: Date())
    let value: [UInt8] = try envelope.serializedBytes()
    let consumed = ConsumerRecord(
      topic: stored.topic, partition: 0, offset: offset, timestamp: 0, key: Array(stored.key.utf8), value: value,
      headers: [])
    return (consumed, stored.id)
  }
}
