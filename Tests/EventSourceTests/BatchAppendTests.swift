import CourierTestSupport
import ContractRuntime
@testable import EventSource
import Foundation
import Generated
import Postgres
import SwiftProtobuf
import Testing

/// `append(contentsOf:in:)`: many events of one type in one statement, on a real Postgres.
@Suite("Appending a batch of events (Postgres)", .serialized, .sharedCluster)
struct BatchAppendTests {
  @Test("a batch keeps its order in seq, its bytes, odd keys and headers, and wakes the relay")
  func batchKeepsOrderAndBytes() async throws {
    try await withStore { store in
      let schema = store.schema
      // Keys with the characters a text array would have to escape, and payloads with every byte value.
      let keys = ["plain", "with \"quotes\"", #"back\slash"#, "comma,brace{}", "ünïcode ✓", "  spaces  "]
      var events: [Courier_Events_V1_DeliveryPayloadChangedLocation] = []
      for index in 0..<120 {
        var event = moved(index, key: keys[index % keys.count])
        event.location.point.latitude = Double(index) / 7
        event.location.accuracyMeters = Double(index % 256)
        events.append(event)
      }
      let listener = try await store.pool.listen(to: store.channel)
      let ids = try await store.pool.withTransaction { tx in
        try await store.append(contentsOf: events, in: tx, headers: ["request-id": "batch-1"])
      }
      #expect(ids.count == events.count && Set(ids).count == events.count)

      let rows = try await store.pool.query(
        "SELECT id, key, payload, headers->>'request-id', type FROM \(identifier: schema).events ORDER BY seq")
      #expect(rows.count == events.count)
      for (index, row) in rows.enumerated() {
        let (id, key, payload, requestID, type) = try row.decode((UUID, String, Data, String, String).self)
        #expect(id == ids[index])
        #expect(key == events[index].eventKey)
        #expect(try Courier_Events_V1_DeliveryPayloadChangedLocation(serializedBytes: payload) == events[index])
        #expect(requestID == "batch-1")
        #expect(type == "courier.events.v1.DeliveryPayloadChangedLocation")
      }
      var iterator = listener.makeAsyncIterator()
      #expect(await iterator.next() != nil)
    }
  }

  @Test("each event of a batch may carry headers of its own; one bad header key writes nothing")
  func headersPerEvent() async throws {
    try await withStore { store in
      let schema = store.schema
      let batch = (0..<6).map { index in
        (event: moved(index, key: "payload-\(index % 2)"),
         headers: index == 4 ? [:] : ["request-id": "call-\(index / 2)", "note": "\"quoted\" ✓ \(index)"])
      }
      let ids = try await store.pool.withTransaction { tx in try await store.append(contentsOf: batch, in: tx) }
      let rows = try await store.pool.query(
        "SELECT id, key, headers::text FROM \(identifier: schema).events ORDER BY seq")
      #expect(rows.count == batch.count)
      for (index, row) in rows.enumerated() {
        let (id, key, headers) = try row.decode((UUID, String, String).self)
        #expect(id == ids[index])
        #expect(key == batch[index].event.eventKey)
        let decoded = try JSONSerialization.jsonObject(with: Data(headers.utf8)) as? [String: String]
        #expect(decoded == batch[index].headers)
      }

      var bad = batch
      bad[5].headers = ["Request-Id": "upper case"]
      await #expect(throws: EventSourceError.invalidEvent("header key 'Request-Id' must be non-empty and lowercase")) {
        try await store.pool.withTransaction { tx in try await store.append(contentsOf: bad, in: tx) }
      }
      #expect(try await store.counts().appended == batch.count)
    }
  }

  @Test("a batch with one bad event writes nothing; an empty batch writes nothing")
  func badEventWritesNothing() async throws {
    try await withStore { store in
      var events = (0..<5).map { moved($0, key: "payload-\($0)") }
      events[3].deliveryPayloadID = ""  // the key field
      await #expect(throws: EventSourceError.invalidEvent("courier.events.v1.DeliveryPayloadChangedLocation has an empty key field 'delivery_payload_id'")) {
        try await store.pool.withTransaction { tx in
          try await store.append(contentsOf: events, in: tx)
        }
      }
      let none: [Courier_Events_V1_DeliveryPayloadChangedLocation] = []
      let ids = try await store.pool.withTransaction { tx in try await store.append(contentsOf: none, in: tx) }
      #expect(ids.isEmpty)
      #expect(try await store.counts().appended == 0)
    }
  }
}
