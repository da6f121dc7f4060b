import ContractRuntime
import CourierTestSupport
import EventSource
import Foundation
import Generated
import GRPCCore
@testable import Hermes
import Kafka
import Postgres
import SwiftProtobuf
import Testing

@Suite("Event handlers (Postgres; fake Asgardian and Iris)", .serialized, .sharedCluster)
struct HandlerTests {
  @Test("subscribers get a push and a mail keyed <event_id>:<user_id>; the position is stored and listed")
  func pushAndMail() async throws {
    try await Harness.with { h in
      let (payload, _, caller) = try await h.carriedPayload()
      let alice = try await h.subscribe(payload, title: "Shoes")
      let bob = try await h.subscribe(payload, userID: h.directory.add(name: "Bob", mail: false), title: "Gift")
      let before = try await h.lastSeq()
      _ = try await h.report(h.location(meters: 10), as: caller)
      #expect(try await h.handle(type: Harness.moved, after: before) == [.processed])
      let eventID = try await h.pool.query(
        "SELECT id FROM event_source.events WHERE type = \(Harness.moved) AND seq > \(before)")[0].decode(UUID.self, at: 0)
      let keys = Set([alice.userID, bob.userID].map { eventID.uuidString.lowercased() + ":" + $0 })
      #expect(Set(h.notifier.pushes.map(\.idempotencyKey)) == keys)
      #expect(h.notifier.mails.map(\.userID) == [alice.userID])  // Bob turned tracking mail off
      let mail = try #require(h.notifier.mails.first)
      #expect(mail.payloadTitle == "Shoes" && mail.trackingCode == payload.trackingCode && mail.status == .pickedUp)
      #expect(mail.mailRequest.template.name == "payload-update")
      #expect(try await h.pool.query("SELECT processed FROM event_source.events WHERE id = \(eventID)")[0].decode(Bool.self, at: 0))
      let history = try await h.pool.query(
        "SELECT count(*) FROM hermes.payload_positions WHERE payload_id = \(UUID(uuidString: payload.deliveryPayloadID)!)")
      #expect(try history[0].decode(Int.self, at: 0) == 1)
      let listed = try await h.call(as: alice) { try await h.tracking.getAllPayloadSubscriptions(request: .init(), context: .test) }
      let expectedLatitude = h.location(meters: 10).point.latitude
      #expect(listed.subscriptions.first?.lastLocation.point.latitude == expectedLatitude)
    }
  }

  @Test("a second fix within the throttle interval pushes but does not mail; a status change mails")
  func throttle() async throws {
    try await Harness.with(configuration: HermesConfiguration(mailInterval: .seconds(600))) { h in
      let (payload, _, caller) = try await h.carriedPayload()
      try await h.subscribe(payload)
      var seq = try await h.lastSeq()
      func fix(_ meters: Double) async throws {
        h.clock.advance(by: 60)
        _ = try await h.report(h.location(meters: meters), as: caller)
        try await h.handle(type: Harness.moved, after: seq)
        seq = try await h.lastSeq()
      }
      try await fix(0)
      #expect((h.notifier.pushes.count, h.notifier.mails.count) == (1, 1))
      try await fix(100)  // a minute later: within 10 minutes
      #expect((h.notifier.pushes.count, h.notifier.mails.count) == (2, 1))
      try await h.setStatus(payload, .inTransit)
      try await fix(200)  // the status changed: mails at once
      #expect((h.notifier.pushes.count, h.notifier.mails.count) == (3, 2))
      #expect(h.notifier.mails.last?.status == .inTransit)
      h.clock.advance(by: 600)
      try await fix(300)  // over 10 minutes since the last mail
      #expect((h.notifier.pushes.count, h.notifier.mails.count) == (4, 3))
    }
  }

  @Test("redelivery of a processed event notifies nobody twice; a failed attempt retries with the same keys")
  func redelivery() async throws {
    try await Harness.with { h in
      let (payload, _, caller) = try await h.carriedPayload()
      try await h.subscribe(payload)
      try await h.subscribe(payload)
      let before = try await h.lastSeq()
      _ = try await h.report(h.location(), as: caller)
      h.notifier.fail(times: 2)  // the first attempt fails part-way (Iris down)
      let records = try await h.records(type: Harness.moved, after: before)
      #expect(records.count == 1)
      #expect(try await h.consumer.handle(records[0]) == .processed)
      let pushes = h.notifier.pushes.map(\.idempotencyKey)
      let mails = h.notifier.mails.map(\.idempotencyKey)
      #expect(pushes.count == 2 && mails.count == 2)
      let calls = h.notifier.calls
      // Delivered again (a relay retry, a refill): skipped, no call at all.
      #expect(try await h.consumer.handle(records[0]) == .skipped)
      #expect(h.notifier.calls == calls)
      #expect(h.notifier.pushes.map(\.idempotencyKey) == pushes && h.notifier.mails.map(\.idempotencyKey) == mails)
      let positions = try await h.pool.query(
        "SELECT count(*) FROM hermes.payload_positions WHERE payload_id = \(UUID(uuidString: payload.deliveryPayloadID)!)")
      #expect(try positions[0].decode(Int.self, at: 0) == 1)
    }
  }

  @Test("a poll batch's pushes go to Iris in one call; a redelivered batch notifies nobody twice; a failed batch call falls back to one by one")
  func batchedPushes() async throws {
    try await Harness.with { h in
      let (payload, _, caller) = try await h.carriedPayload()
      try await h.subscribe(payload)
      try await h.subscribe(payload, userID: h.directory.add(name: "Bob", mail: false))
      let before = try await h.lastSeq()
      for step in 0..<3 {
        h.clock.advance(by: 2)
        _ = try await h.report(h.location(meters: Double(step) * 10), as: caller)
      }
      let records = try await h.records(type: Harness.moved, after: before)
      #expect(records.count == 3)
      try await h.consumer.handle(records)
      #expect(h.notifier.batches == [6])
      #expect(h.notifier.calls.push == 0)  // no single push calls
      let keys = h.notifier.pushes.map(\.idempotencyKey)
      #expect(keys.count == 6 && Set(keys).count == 6)
      #expect(h.notifier.mails.count == 1)  // the first fix mails; the others are within the interval
      let positions = try await h.pool.query(
        "SELECT count(*) FROM hermes.payload_positions WHERE payload_id = \(UUID(uuidString: payload.deliveryPayloadID)!)")
      #expect(try positions[0].decode(Int.self, at: 0) == 3)

      // The same batch again: every event is skipped, Iris hears nothing.
      let calls = h.notifier.calls
      try await h.consumer.handle(records)
      #expect(h.notifier.batches == [6] && h.notifier.calls == calls)

      // Iris fails part-way through the next batch call: the batch rolls back and each event is
      // handled on its own; the push Iris took is repeated with the same key, so it counts once.
      let next = try await h.lastSeq()
      for step in 3..<5 {
        h.clock.advance(by: 2)
        _ = try await h.report(h.location(meters: Double(step) * 10), as: caller)
      }
      let more = try await h.records(type: Harness.moved, after: next)
      #expect(more.count == 2)
      h.notifier.failBatches(times: 1)
      try await h.consumer.handle(more)
      #expect(h.notifier.batches == [6, 4])
      #expect(h.notifier.calls.push == 4)  // two subscribers, two events, one by one
      let all = h.notifier.pushes.map(\.idempotencyKey)
      #expect(all.count == 10 && Set(all).count == 10)
      let processed = try await h.pool.query(
        "SELECT count(*) FROM event_source.events WHERE type = \(Harness.moved) AND seq > \(before) AND processed")
      #expect(try processed[0].decode(Int.self, at: 0) == 5)
    }
  }

  @Test("a batch leaves each payload's row, estimate and pushes exactly as the same events handled one by one")
  func batchMatchesSingleEvents() async throws {
    try await Harness.with { h in
      // Two payloads with the same destination and the same fixes at the same times: A's events go
      // through the batch handler (one UPDATE at its end), B's one by one (an UPDATE per event).
      let (a, _, carrierA) = try await h.carriedPayload()
      let (b, _, carrierB) = try await h.carriedPayload()
      for payload in [a, b] {
        try await h.subscribe(payload)
        try await h.pool.execute(
          "UPDATE hermes.payloads SET dest_lat = 52.53, dest_lon = 13.405 WHERE id = \(UUID(uuidString: payload.deliveryPayloadID)!)")
      }
      let before = try await h.lastSeq()
      for step in 0..<4 {
        h.clock.advance(by: 3)
        for carrier in [carrierA, carrierB] {
          _ = try await h.report(h.location(meters: Double(step) * 25, secondsAgo: 1), as: carrier)
        }
      }
      let records = try await h.records(type: Harness.moved, after: before)
      #expect(records.count == 8)
      func payloadID(of record: ConsumerRecord) throws -> String {
        let envelope = try Courier_Events_V1_EventEnvelope(serializedBytes: record.value ?? [])
        let moved = try Courier_Events_V1_DeliveryPayloadChangedLocation(serializedBytes: envelope.payload)
        return moved.deliveryPayloadID
      }
      try await h.consumer.handle(try records.filter { try payloadID(of: $0) == a.deliveryPayloadID })
      #expect(h.notifier.batches == [5])  // four moves and, once, "arriving soon"
      for record in try records.filter({ try payloadID(of: $0) == b.deliveryPayloadID }) {
        #expect(try await h.consumer.handle(record) == .processed)
      }

      let rows = try await h.pool.query(
        """
        SELECT lat, lon, accuracy_m, speed_mps, heading_deg, altitude_m, recorded_at, updated_at, smoothed_speed_mps,
               eta_remaining_m, eta_remaining_s, eta_at, eta_fix_at
        FROM hermes.payloads
        WHERE id IN (\(UUID(uuidString: a.deliveryPayloadID)!), \(UUID(uuidString: b.deliveryPayloadID)!))
        ORDER BY id = \(UUID(uuidString: a.deliveryPayloadID)!) DESC
        """)
      #expect(rows.count == 2)
      typealias Moved = (Double, Double, Double, Double, Double, Double, Date, Date, Double?, Double?, Double?, Date?, Date?)
      let (movedA, movedB) = (try rows[0].decode(Moved.self), try rows[1].decode(Moved.self))
      #expect(movedA.0 == movedB.0 && movedA.6 == movedB.6 && movedA.7 == movedB.7)
      #expect(movedA.8 == movedB.8 && movedA.9 == movedB.9 && movedA.10 == movedB.10)
      #expect(movedA.11 == movedB.11 && movedA.12 == movedB.12)
      #expect(movedA.11 != nil)  // the estimate was computed, so it was compared
      #expect(abs(movedA.0 - (52.52 + 75 / 111_195)) < 1e-9)  // the newest fix

      // What the subscribers were told, event by event: the same but for the payload and keys.
      func told(_ payload: Courier_Hermes_V1_DeliveryPayload) -> [String] {
        h.notifier.pushes.filter { $0.trackingCode == payload.trackingCode }.map {
          "\($0.status) \($0.kind) \($0.arrival)"
        }
      }
      #expect(told(a).count == 5 && told(a) == told(b))
      #expect(told(a).contains { $0.contains("arriving") })
      func read(_ payload: Courier_Hermes_V1_DeliveryPayload) async throws -> Courier_Hermes_V1_DeliveryPayload {
        var request = Courier_Hermes_V1_GetDeliveryPayloadRequest()
        request.deliveryPayloadID = payload.deliveryPayloadID
        return try await h.call(as: h.admin) { try await h.adminService.getDeliveryPayload(request: request, context: .test) }.payload
      }
      let (readA, readB) = (try await read(a), try await read(b))
      #expect(readA.arrivalEstimate == readB.arrivalEstimate && readA.lastLocation == readB.lastLocation)
      #expect(readA.updatedAt == readB.updatedAt)
    }
  }

  @Test("disabled subscribers and people without subscriptions get nothing")
  func skipped() async throws {
    try await Harness.with { h in
      let (payload, _, caller) = try await h.carriedPayload()
      try await h.subscribe(payload, userID: h.directory.add(name: "Off", disabled: true))
      let before = try await h.lastSeq()
      _ = try await h.report(h.location(), as: caller)
      #expect(try await h.handle(type: Harness.moved, after: before) == [.processed])
      #expect(h.notifier.calls == (0, 0))
    }
  }

  @Test("Registered: the receipt lands in the bucket, pdftotext reads it, and only the recipient and admins fetch it")
  func receipt() async throws {
    try await Harness.with { h in
      let recipient = h.directory.add(name: "Rita")
      let before = try await h.lastSeq()
      let payload = try await h.registerPayload(title: "Bicycle", recipient: recipient)
      var request = Courier_Hermes_V1_GetPayloadReceiptRequest()
      request.payloadTrackingCode = payload.trackingCode
      let owner = Caller(userID: recipient, roles: ["user"])
      await expectCode(.unavailable) { try await h.call(as: owner) { try await h.tracking.getPayloadReceipt(request: request, context: .test) } }
      #expect(try await h.handle(type: Harness.registered, after: before) == [.processed])
      #expect(try await h.handle(type: Harness.registered, after: before) == [.skipped])
      let stored = try #require(try await h.bucket.get(key: Receipt.key(trackingCode: payload.trackingCode)))
      let text = try #require(try ReceiptTests.pdftotext(stored), "pdftotext is missing").text
      #expect(text.contains(payload.trackingCode) && text.contains("Bicycle") && text.contains(recipient))
      let fetched = try await h.call(as: owner) { try await h.tracking.getPayloadReceipt(request: request, context: .test) }
      #expect(fetched.content == stored && fetched.fileName == "receipt-\(payload.trackingCode).pdf")
      #expect(fetched.contentType == "application/pdf")
      _ = try await h.call(as: h.admin) { try await h.tracking.getPayloadReceipt(request: request, context: .test) }
      let stranger = Caller(userID: h.directory.add(), roles: ["user"])
      await expectCode(.permissionDenied) { try await h.call(as: stranger) { try await h.tracking.getPayloadReceipt(request: request, context: .test) } }
      var get = Courier_Hermes_V1_GetDeliveryPayloadRequest()
      get.deliveryPayloadID = payload.deliveryPayloadID
      let read = try await h.call(as: h.admin) { try await h.adminService.getDeliveryPayload(request: get, context: .test) }
      #expect(read.payload.hasReceiptGeneratedAt)
    }
  }
}
