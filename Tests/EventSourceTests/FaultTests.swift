import CourierTestSupport
import ContractRuntime
import EventSource
import Foundation
import Generated
import Kafka
import Postgres
import SwiftProtobuf
import Synchronization
import Testing

/// Faults on real components: counts compared, never timings.
@Suite("Event source faults (Postgres + Tansu)", .serialized, .sharedCluster)
struct FaultTests {
  @Test("a broker that died is replaced by an empty one and refilled from the store; each event processed once")
  func brokerReplacedAndRefilled() async throws {
    var broker = try await TansuBroker.start()
    defer { broker.stop() }
    let kafka = broker.configuration  // the new broker listens on the same port
    try await withStore { store in
      let relay = EventRelay(store: store, kafka: kafka, configuration: relayConfiguration())
      let consumer = EventConsumer(
        store: store, kafka: kafka, registry: CourierContracts.events,
        configuration: consumerConfiguration(group: "refill"), handler: recordingHandler(store))
      let total = 600
      try await whileRunning([{ try await relay.run() }, { try await consumer.run() }]) {
        let appender = Task {
          for index in 0..<total { try await store.append(moved(index, key: "payload-\(index % 7)")) }
        }
        try await waitUntil("some events processed before the broker dies") {
          try await store.processedCount(consumer: "refill") >= 100
        }
        broker = try await broker.restarted()
        let refilled = try await store.refill()
        #expect(refilled >= 100)
        try await appender.value
        try await waitUntil("every event processed after the refill") {
          try await store.processedCount(consumer: "refill") == total
        }
      }
      await relay.close()
      let counts = try await store.counts()
      #expect(counts.appended == total && counts.processed == total && counts.deadLetters == 0)
      let effects = try await sideEffects(store)
      #expect(effects.total == total)
      #expect(effects.distinct == total)
    }
  }

  @Test("a consumer process killed with SIGKILL mid-batch: its events are redelivered and processed once")
  func consumerProcessKilled() async throws {
    let harness = try ChildProcess.builtProduct("event-source-harness")
    let url = try TestDatabase.requireURL()
    try await TansuBroker.with { broker in
      try await withStore { store in
        let relay = EventRelay(store: store, kafka: broker.configuration, configuration: relayConfiguration())
        let total = 400
        let arguments = [
          "consume", "--database", url, "--bootstrap", broker.bootstrap, "--schema", store.schema,
          "--group", "killed", "--delay-ms", "20",
        ]
        try await whileRunning([{ try await relay.run() }]) {
          for index in 0..<total { try await store.append(moved(index, key: "payload-\(index % 5)")) }
          let first = try ChildProcess.start(harness, arguments)
          try await waitUntil("the first consumer process handles events (log: \(first.log))") {
            try await store.processedCount(consumer: "killed") >= 40
          }
          first.kill9()
          let processedAtKill = try await store.processedCount(consumer: "killed")
          #expect(processedAtKill < total, "the kill must land mid-stream")
          let second = try ChildProcess.start(harness, arguments)
          try await waitUntil("the second consumer process finishes (log: \(second.log))") {
            try await store.processedCount(consumer: "killed") == total
          }
          second.kill9()
        }
        await relay.close()
        let effects = try await sideEffects(store)
        #expect(effects.total == total)
        #expect(effects.distinct == total)
        #expect(try await store.counts().processed == total)
      }
    }
  }

  @Test("Postgres restarts mid-stream: the pools recover and no event is lost or processed twice")
  func postgresRestart() async throws {
    let cluster = try TestCluster.start()
    defer { cluster.stop() }
    try await TansuBroker.with { broker in
      try await withStore(url: cluster.url) { store in
        let relay = EventRelay(store: store, kafka: broker.configuration, configuration: relayConfiguration())
        let consumer = EventConsumer(
          store: store, kafka: broker.configuration, registry: CourierContracts.events,
          configuration: consumerConfiguration(group: "restart"), handler: recordingHandler(store))
        let target = 500
        try await whileRunning([{ try await relay.run() }, { try await consumer.run() }]) {
          let appender = Task {
            var index = 0
            var committed = 0
            while committed < target {
              do {
                try await store.append(moved(index, key: "payload-\(index % 9)"))
                committed += 1
              } catch let error as PostgresError where error.isRetriable || error.code == .commitOutcomeUnknown {
                // The server is restarting: this append may or may not have landed; the store's
                // own count is what the assertions compare.
                try await Task.sleep(for: .milliseconds(20))
              }
              index += 1
            }
            return committed
          }
          try await waitUntil("some events processed before the restart") {
            try await store.processedCount(consumer: "restart") >= 100
          }
          try cluster.restart()
          #expect(try await appender.value == target)
          try await waitUntil("every stored event processed after the restart") {
            let counts = try await store.counts()
            let processed = try await store.processedCount(consumer: "restart")
            return counts.unpublished == 0 && processed == counts.appended
          }
        }
        await relay.close()
        let counts = try await store.counts()
        #expect(counts.appended >= target)
        #expect(counts.processed == counts.appended)
        let effects = try await sideEffects(store)
        #expect(effects.total == counts.appended)
        #expect(effects.distinct == counts.appended)
      }
    }
  }

  @Test("malformed records on a topic are dead-lettered with their error and the consumer keeps going")
  func malformedPayloads() async throws {
    try await TansuBroker.with { broker in
      try await withStore { store in
        let relay = EventRelay(store: store, kafka: broker.configuration, configuration: relayConfiguration())
        let consumer = EventConsumer(
          store: store, kafka: broker.configuration, registry: CourierContracts.events,
          configuration: consumerConfiguration(group: "malformed"), handler: recordingHandler(store))
        let topic = Courier_Events_V1_UserCreated.eventBinding.topic
        let admin = KafkaAdmin(configuration: broker.configuration)
        try await admin.createTopic(topic, partitions: 4, ifNotExists: true)
        await admin.close()

        var unknownType = Courier_Events_V1_EventEnvelope()
        let unknownID = UUID()
        unknownType.eventID = unknownID.uuidString
        unknownType.eventType = "courier.events.v1.NoSuchEvent"
        var truncated = Courier_Events_V1_EventEnvelope()
        let truncatedID = UUID()
        truncated.eventID = truncatedID.uuidString
        truncated.eventType = Courier_Events_V1_UserCreated.eventBinding.typeName
        truncated.payload = Data([0x0a, 0x09, 0x75])
        let producer = KafkaProducer(configuration: broker.configuration)
        for value: [UInt8] in [[0xde, 0xad, 0xbe, 0xef], try unknownType.serializedBytes(), try truncated.serializedBytes()] {
          try await producer.send(ProducerRecord(topic: topic, key: Array("user-1".utf8), value: value))
        }
        await producer.close()

        let total = 50
        try await whileRunning([{ try await relay.run() }, { try await consumer.run() }]) {
          for index in 0..<total {
            var created = Courier_Events_V1_UserCreated()
            created.userID = "user-\(index % 4)"
            created.email = "u\(index)@example.com"
            try await store.append(created)
          }
          try await waitUntil("the good events processed and the bad ones dead-lettered") {
            let processed = try await store.processedCount(consumer: "malformed")
            let dead = try await store.counts().deadLetters
            return processed == total && dead == 3
          }
        }
        await relay.close()
        let letters = try await store.deadLetters(consumer: "malformed")
        #expect(letters.count == 3)
        let garbage = letters.first { $0.eventID == nil }
        #expect(garbage?.error.hasPrefix("the record's value is not an EventEnvelope") == true)
        #expect(letters.first { $0.eventID == unknownID }?.error == "no event type named 'courier.events.v1.NoSuchEvent' is registered")
        #expect(letters.first { $0.eventID == truncatedID }?.error.hasPrefix("the payload is not a valid courier.events.v1.UserCreated") == true)
        #expect(letters.allSatisfy { $0.topic == topic })
        let effects = try await sideEffects(store)
        #expect(effects.total == total && effects.distinct == total)
      }
    }
  }
}
