import ContractRuntime
import CourierTestSupport
import EventSource
import Foundation
import Generated
@testable import Hermes
import Kafka
import Postgres
import Testing

/// Hermes' events end to end below Asgardian and Iris: RPC -> outbox -> relay -> Tansu -> Hermes'
/// consumer (group `hermes`) -> receipt in the bucket, push and mail through the Notifier, with the
/// fake Iris failing once (the runner retries; the keys stay the same).
@Suite("Hermes pipeline (Postgres + Tansu)", .serialized, .sharedCluster)
struct PipelineTests {
  @Test("registering renders the receipt; a fix reaches the subscriber; every event ends processed")
  func pipeline() async throws {
    try await TansuBroker.with { broker in
      try await Harness.with { h in
        let relay = EventRelay(
          store: h.store, kafka: broker.configuration,
          configuration: .init(
            batchSize: 100, sweepInterval: .milliseconds(200), retryBackoff: .milliseconds(50),
            topics: PayloadEvents.registry.bindings.map(\.topic)))
        var kafka = KafkaConsumerConfiguration.testing
        kafka.fetchMaxWait = .milliseconds(50)
        let consumer = h.events.consumer(
          store: h.store, kafka: broker.configuration,
          configuration: .init(
            group: PayloadEvents.group,
            policy: DeliveryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(50)),
            kafkaConsumer: kafka, infrastructureBackoff: .milliseconds(50)))
        let tasks = [Task { try await relay.run() }, Task { try await consumer.run() }]
        defer { for task in tasks { task.cancel() } }

        let (payload, _, caller) = try await h.carriedPayload()
        let follower = try await h.subscribe(payload, title: "Shoes")
        h.notifier.fail(times: 1)
        _ = try await h.report(h.location(), as: caller)

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        // Registered, StatusChanged (picked up) and ChangedLocation.
        while try await h.store.processedCount(consumer: PayloadEvents.group) < 3 {
          guard clock.now < deadline else {
            Issue.record("the three events were not processed within 60 s")
            break
          }
          try await Task.sleep(for: .milliseconds(50))
        }
        for task in tasks { task.cancel(); _ = try? await task.value }
        await relay.close()

        #expect(try await h.bucket.get(key: Receipt.key(trackingCode: payload.trackingCode)) != nil)
        let moved = try await h.pool.query(
          "SELECT id, processed FROM event_source.events WHERE type = \(Harness.moved) AND key = \(payload.deliveryPayloadID)")
        let (eventID, processed) = try moved[0].decode((UUID, Bool).self)
        #expect(processed)
        #expect(h.notifier.pushes.map(\.idempotencyKey) == [eventID.uuidString.lowercased() + ":" + follower.userID])
        #expect(h.notifier.mails.map(\.idempotencyKey) == [eventID.uuidString.lowercased() + ":" + follower.userID])
        let listed = try await h.call(as: follower) { try await h.tracking.getAllPayloadSubscriptions(request: .init(), context: .test) }
        #expect(listed.subscriptions.first?.lastLocation.point.latitude == h.location().point.latitude)
      }
    }
  }
}
