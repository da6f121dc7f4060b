import ContractRuntime
import CourierTestSupport
import Foundation
import Generated
import GRPCCore
@testable import Hermes
import Kafka
import Postgres
import SwiftProtobuf
import Testing

@Suite("Position fixes (Postgres)", .serialized, .sharedCluster)
struct FixTests {
  @Test("an accepted fix emits DeliveryPayloadChangedLocation for every carried payload, in its transaction")
  func fixMovesCarriedPayloads() async throws {
    try await Harness.with { h in
      let (payload, deliverer, caller) = try await h.carriedPayload()
      let second = try await h.registerPayload()
      try await h.assign(second, to: deliverer)
      try await h.setStatus(second, .inTransit)
      let waiting = try await h.registerPayload()  // assigned but not picked up: does not move
      try await h.assign(waiting, to: deliverer)
      let before = try await h.lastSeq()
      let answer = try await h.report(h.location(), as: caller)
      #expect(answer.accepted && answer.movedPayloadCount == 2)
      let moved = try await h.records(type: Harness.moved, after: before)
      #expect(moved.count == 2)
      let keys = Set(moved.compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } })
      #expect(keys == [payload.deliveryPayloadID, second.deliveryPayloadID])
      let events = try await h.pool.query(
        "SELECT payload FROM event_source.events WHERE type = \(Harness.moved) AND key = \(payload.deliveryPayloadID)")
      let event = try Courier_Events_V1_DeliveryPayloadChangedLocation(serializedBytes: try events[0].decode([UInt8].self, at: 0))
      #expect(event.userID == payload.recipientUserID && event.delivererID == deliverer.delivererID)
      #expect(event.location.point.latitude == 52.52)
      let work = try await h.call(as: caller) { try await h.delivererService.listAssignedPayloads(request: .init(), context: .test) }
      #expect(Set(work.payloads.map(\.deliveryPayloadID)) == [payload.deliveryPayloadID, second.deliveryPayloadID, waiting.deliveryPayloadID])
    }
  }

  @Test("a rejected fix is an answer, writes nothing, and does not move the deliverer")
  func rejectedFix() async throws {
    try await Harness.with { h in
      let (_, _, caller) = try await h.carriedPayload()
      _ = try await h.report(h.location(secondsAgo: 10), as: caller)
      let before = try await h.lastSeq()
      var future = h.location()
      future.recordedAt = Google_Protobuf_Timestamp(date: h.clock.now.addingTimeInterval(120))
      let cases: [(Courier_Common_V1_Location, Courier_Hermes_V1_LocationRejectionReason)] = [
        (future, .inFuture),
        (h.location(secondsAgo: 10), .outOfOrder),
        (h.location(secondsAgo: 9.5), .tooFrequent),
        (h.location(meters: 50_000), .implausibleSpeed),
        (.with { $0.point.latitude = 91; $0.recordedAt = .init(date: h.clock.now) }, .outOfRange),
        (.with { $0.recordedAt = .init(date: h.clock.now) }, .missingPoint),
      ]
      for (location, reason) in cases {
        let answer = try await h.report(location, as: caller)
        #expect(!answer.accepted && answer.rejectionReason == reason && answer.movedPayloadCount == 0)
      }
      #expect(try await h.lastSeq() == before)
    }
  }

  @Test("only deliverers report, only registered ones, and a fix moves only the reporter's payloads")
  func authorization() async throws {
    try await Harness.with { h in
      let (payload, _, _) = try await h.carriedPayload()
      let (_, other) = try await h.registerDeliverer(name: "Other")
      let before = try await h.lastSeq()
      let answer = try await h.report(h.location(), as: other)
      #expect(answer.accepted && answer.movedPayloadCount == 0)
      #expect(try await h.records(type: Harness.moved, after: before).isEmpty)
      let plain = Caller(userID: h.directory.add(), roles: ["user"])
      await expectCode(.permissionDenied) { try await h.report(h.location(), as: plain) }
      await expectCode(.unauthenticated) { try await h.report(h.location(), as: nil) }
      let unregistered = Caller(userID: h.directory.add(roles: [.deliverer]), roles: ["deliverer"])
      await expectCode(.failedPrecondition) { try await h.report(h.location(), as: unregistered) }
      _ = payload
    }
  }

  @Test("ReportLocation through the generated service protocol: a missing location is a rejection, not an error")
  func streamThroughService() async throws {
    try await Harness.with { h in
      let (_, _, caller) = try await h.carriedPayload()
      let requests: [Courier_Hermes_V1_ReportLocationRequest] = [
        .with { $0.location = h.location(secondsAgo: 5) }, Courier_Hermes_V1_ReportLocationRequest(),
      ]
      let stream = AsyncThrowingStream<Courier_Hermes_V1_ReportLocationRequest, any Error> { continuation in
        for request in requests { continuation.yield(request) }
        continuation.finish()
      }
      let response = try await h.call(as: caller) {
        try await h.delivererService.reportLocation(request: RPCAsyncSequence(wrapping: stream), context: .test)
      }
      #expect(response.acceptedCount == 1 && response.rejectedCount == 1)
      #expect(response.rejections.first?.reason == .missingPoint && response.rejections.first?.index == 1)
      let plain = Caller(userID: h.directory.add(), roles: ["user"])
      await expectCode(.permissionDenied) {
        try await h.call(as: plain) {
          try await h.delivererService.reportLocation(
            request: RPCAsyncSequence(wrapping: AsyncThrowingStream<Courier_Hermes_V1_ReportLocationRequest, any Error> { $0.finish() }),
            context: .test)
        }
      }
    }
  }

  @Test("ReportLocation: counts accepted and rejected fixes of a stream and lists the rejections")
  func stream() async throws {
    try await Harness.with { h in
      let (_, _, caller) = try await h.carriedPayload()
      let fixes: [Courier_Common_V1_Location?] = [
        h.location(secondsAgo: 30), h.location(secondsAgo: 30), nil, h.location(meters: 20, secondsAgo: 20),
      ]
      let response = try await h.call(as: caller) {
        try await h.core.reportStream(AsyncStream { continuation in
          for fix in fixes { continuation.yield(fix) }
          continuation.finish()
        })
      }
      #expect(response.acceptedCount == 2 && response.rejectedCount == 2)
      #expect(response.rejections.map(\.index) == [1, 2])
      #expect(response.rejections.map(\.reason) == [.outOfOrder, .missingPoint])
    }
  }

  @Test("ReportLocation: a queued upload of 150 fixes is kept in order, in batches; rejections keep their index")
  func queuedUpload() async throws {
    try await Harness.with { h in
      let (payload, deliverer, caller) = try await h.carriedPayload()
      let before = try await h.lastSeq()
      var fixes: [Courier_Common_V1_Location?] = (0..<150).map { index in
        h.location(meters: Double(index) * 4, secondsAgo: 400 - Double(index) * 1.5)
      }
      fixes[50] = fixes[49]  // the same fix again: out of order
      fixes[100] = nil  // no point
      let response = try await h.call(as: caller) {
        try await h.core.reportStream(AsyncStream { continuation in
          for fix in fixes { continuation.yield(fix) }
          continuation.finish()
        })
      }
      #expect(response.acceptedCount == 148 && response.rejectedCount == 2)
      #expect(response.rejections.map(\.index) == [50, 100])
      #expect(response.rejections.map(\.reason) == [.outOfOrder, .missingPoint])
      let moved = try await h.records(type: Harness.moved, after: before)
      let latitudes = try moved.map {
        let envelope = try Courier_Events_V1_EventEnvelope(serializedBytes: $0.value ?? [])
        return try Courier_Events_V1_DeliveryPayloadChangedLocation(serializedBytes: envelope.payload).location.point.latitude
      }
      let expected = fixes.enumerated().compactMap { index, fix in [50, 100].contains(index) ? nil : fix?.point.latitude }
      #expect(latitudes == expected)
      #expect(moved.allSatisfy { $0.key.map { String(decoding: $0, as: UTF8.self) } == payload.deliveryPayloadID })
      let position = try await h.pool.query(
        "SELECT lat FROM hermes.deliverers WHERE id = \(UUID(uuidString: deliverer.delivererID)!)")
      #expect(try position.map { try $0.decode(Double.self, at: 0) } == [expected.last!])
    }
  }

  @Test("fixes of several deliverers share one transaction: each request is checked on its own, one deliverer's in request order, and an unregistered deliverer fails alone")
  func sharedTransaction() async throws {
    try await Harness.with { h in
      let (first, a, _) = try await h.carriedPayload()
      let (second, b, _) = try await h.carriedPayload()
      let (idA, idB) = (UUID(uuidString: a.delivererID)!, UUID(uuidString: b.delivererID)!)
      let before = try await h.lastSeq()
      let results = try await h.core.keepFixes([
        FixRequest(delivererID: idA, locations: [h.location(secondsAgo: 20)], headers: ["request-id": "r1"]),
        FixRequest(delivererID: UUID(), locations: [h.location(secondsAgo: 20)], headers: ["request-id": "r2"]),
        FixRequest(delivererID: idB, locations: [h.location(meters: 10, secondsAgo: 20)], headers: ["request-id": "r3"]),
        // Older than A's fix in the first request: out of order; then a newer one.
        FixRequest(
          delivererID: idA, locations: [h.location(secondsAgo: 30), h.location(meters: 8, secondsAgo: 10)],
          headers: ["request-id": "r4"]),
      ])
      #expect(try results[0].get() == [FixOutcome(rejection: nil, movedPayloads: 1)])
      #expect(throws: RPCError.self) { try results[1].get() }
      if case .failure(let error) = results[1] { #expect(error.code == .failedPrecondition) }
      #expect(try results[2].get() == [FixOutcome(rejection: nil, movedPayloads: 1)])
      #expect(try results[3].get() == [FixOutcome(rejection: .outOfOrder, movedPayloads: 0), FixOutcome(rejection: nil, movedPayloads: 1)])
      let rows = try await h.pool.query(
        "SELECT key, headers->>'request-id' FROM event_source.events WHERE seq > \(before) ORDER BY seq")
      let appended = try rows.map { try $0.decode((String, String).self) }
      #expect(appended.map(\.0) == [first.deliveryPayloadID, second.deliveryPayloadID, first.deliveryPayloadID])
      #expect(appended.map(\.1) == ["r1", "r3", "r4"])
      // Each deliverer is where its newest accepted fix put it.
      let positions = try await h.pool.query(
        "SELECT id, lat FROM hermes.deliverers WHERE id = ANY(\(PostgresArray([idA, idB])))")
      let latitude = Dictionary(uniqueKeysWithValues: try positions.map { try $0.decode((UUID, Double).self) })
      #expect(latitude == [idA: h.location(meters: 8).point.latitude, idB: h.location(meters: 10).point.latitude])
    }
  }
}
