@testable import Asgardian
import ContractRuntime
import CourierTestSupport
import EventSource
import Foundation
import Generated
import Kafka
import Postgres
import Testing

/// The welcome mail end to end below Iris: sign-up -> outbox -> relay -> Tansu -> Asgardian's
/// consumer -> MailSending, with a mail service that fails once (the runner retries, and the
/// idempotency key stays the same).
@Suite("Welcome mail (Postgres + Tansu)", .serialized, .sharedCluster)
struct WelcomeMailTests {
  @Test("UserCreated is consumed once: one welcome mail keyed <event_id>:<user_id>, processed = true")
  func welcomeMail() async throws {
    try await TansuBroker.with { broker in
      try await Harness.with { h in
        let relay = EventRelay(
          store: h.store, kafka: broker.configuration,
          configuration: .init(batchSize: 100, sweepInterval: .milliseconds(200), retryBackoff: .milliseconds(50),
                               topics: [Courier_Events_V1_UserCreated.eventBinding.topic]))
        var kafka = KafkaConsumerConfiguration.testing
        kafka.fetchMaxWait = .milliseconds(50)
        let consumer = WelcomeMail.consumer(
          store: h.store, kafka: broker.configuration, mailer: h.mailer,
          configuration: .init(
            group: WelcomeMail.group,
            policy: DeliveryPolicy(maxAttempts: 5, initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(50)),
            kafkaConsumer: kafka, infrastructureBackoff: .milliseconds(50)))
        h.mailer.fail(times: 1)
        let tasks = [Task { try await relay.run() }, Task { try await consumer.run() }]
        defer { for task in tasks { task.cancel() } }

        let created = try await h.signUp(name: "Grace")
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while try await h.store.processedCount(consumer: WelcomeMail.group) < 1 {
          guard clock.now < deadline else {
            Issue.record("UserCreated was not processed within 60 s")
            break
          }
          try await Task.sleep(for: .milliseconds(50))
        }
        for task in tasks { task.cancel(); _ = try? await task.value }
        await relay.close()

        let eventID = try await h.pool.query(
          "SELECT id FROM event_source.events WHERE key = \(created.user.userID)")[0].decode(UUID.self, at: 0)
        let mails = h.mailer.mails.filter { $0.template == .welcome }
        #expect(mails.count == 1)
        let mail = try #require(mails.first)
        #expect(mail.idempotencyKey == eventID.uuidString.lowercased() + ":" + created.user.userID)
        #expect(mail.address == created.user.email && mail.variables == ["display_name": "Grace"])
        #expect(mail.request.template.name == "welcome")
        let processed = try await h.pool.query(
          "SELECT processed FROM event_source.events WHERE id = \(eventID)")[0].decode(Bool.self, at: 0)
        #expect(processed)
      }
    }
  }
}
