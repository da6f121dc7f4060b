import ContractRuntime
import CourierTestSupport
import EventSource
import Foundation
import Generated
import GRPCCore
@testable import Hermes
import Postgres
import SwiftProtobuf
import Testing

@Suite("Payloads, deliverers, subscriptions (Postgres)", .serialized, .sharedCluster)
struct AdminTests {
  @Test("registration writes the payload, its history and DeliveryPayloadRegistered in one transaction")
  func registration() async throws {
    try await Harness.with { h in
      let payload = try await h.registerPayload(title: "New shoes")
      #expect(payload.status == .registered)
      #expect(TrackingCode.canonical(payload.trackingCode) == payload.trackingCode)
      let rows = try await h.pool.query(
        "SELECT type, key, payload FROM event_source.events WHERE key = \(payload.deliveryPayloadID)")
      #expect(rows.count == 1)
      let (type, _, bytes) = try rows[0].decode((String, String, [UInt8]).self)
      #expect(type == Harness.registered)
      let event = try Courier_Events_V1_DeliveryPayloadRegistered(serializedBytes: bytes)
      #expect(event.trackingCode == payload.trackingCode && event.recipientUserID == payload.recipientUserID)
      let history = try await h.pool.query(
        "SELECT count(*) FROM hermes.status_history WHERE payload_id = \(UUID(uuidString: payload.deliveryPayloadID)!)")
      #expect(try history[0].decode(Int.self, at: 0) == 1)
    }
  }

  @Test("bad input and refused recipients write nothing")
  func badInputWritesNothing() async throws {
    try await Harness.with { h in
      let before = try await h.lastSeq()
      let payloadsBefore = try await h.pool.query("SELECT count(*) FROM hermes.payloads")[0].decode(Int.self, at: 0)
      let recipient = h.directory.add(name: "R")
      let disabled = h.directory.add(name: "D", disabled: true)
      let cases: [(RPCError.Code, Courier_Hermes_V1_RegisterDeliveryPayloadRequest)] = [
        (.invalidArgument, .with { $0.title = ""; $0.recipientUserID = recipient }),
        (.invalidArgument, .with { $0.title = String(repeating: "x", count: 101); $0.recipientUserID = recipient }),
        (.invalidArgument, .with { $0.title = "t"; $0.description_p = String(repeating: "x", count: 2001); $0.recipientUserID = recipient }),
        (.invalidArgument, .with { $0.title = "t"; $0.recipientUserID = "not-a-uuid" }),
        (.invalidArgument, .with { $0.title = "t"; $0.recipientUserID = recipient.uppercased() }),
        (.invalidArgument, .with { $0.title = "t"; $0.recipientUserID = recipient; $0.requestID = "nope" }),
        (.failedPrecondition, .with { $0.title = "t"; $0.recipientUserID = UUID().uuidString.lowercased() }),
        (.failedPrecondition, .with { $0.title = "t"; $0.recipientUserID = disabled }),
      ]
      for (code, request) in cases {
        await expectCode(code) { try await h.call(as: h.admin) { try await h.adminService.registerDeliveryPayload(request: request, context: .test) } }
      }
      #expect(try await h.lastSeq() == before)
      #expect(try await h.pool.query("SELECT count(*) FROM hermes.payloads")[0].decode(Int.self, at: 0) == payloadsBefore)
    }
  }

  @Test("Asgardian unreachable: registration is UNAVAILABLE and writes nothing; the handler fails and is dead-lettered")
  func asgardianDown() async throws {
    try await Harness.with { h in
      let (payload, _, caller) = try await h.carriedPayload()
      try await h.subscribe(payload)
      let before = try await h.lastSeq()
      h.directory.setDown(true)
      await expectCode(.unavailable) { try await h.registerPayload() }
      #expect(try await h.lastSeq() == before)
      _ = try await h.report(h.location(), as: caller)
      let records = try await h.records(type: Harness.moved, after: before)
      // The harness's policy gives up after 3 attempts: the event is dead-lettered, nobody notified,
      // and it stays unprocessed (replayable once Asgardian is back).
      #expect(try await h.consumer.handle(records[0]) == .deadLettered)
      #expect(h.notifier.calls == (0, 0))
      let id = try await h.pool.query(
        "SELECT id FROM event_source.events WHERE seq > \(before) AND type = \(Harness.moved)")[0].decode(UUID.self, at: 0)
      let delivery = try await h.pool.query(
        "SELECT status, attempts FROM event_source.deliveries WHERE consumer = 'hermes' AND event_id = \(id)")
      let (status, attempts) = try delivery[0].decode((String, Int).self)
      #expect(status == "dead" && attempts == 3)
      #expect(try await !h.pool.query("SELECT processed FROM event_source.events WHERE id = \(id)")[0].decode(Bool.self, at: 0))
    }
  }

  @Test("a repeated request_id returns the first payload and appends one event")
  func requestIDRetry() async throws {
    try await Harness.with { h in
      var request = Courier_Hermes_V1_RegisterDeliveryPayloadRequest()
      request.title = "Lamp"
      request.recipientUserID = h.directory.add()
      request.requestID = UUID().uuidString.lowercased()
      let first = try await h.call(as: h.admin) { try await h.adminService.registerDeliveryPayload(request: request, context: .test) }
      let second = try await h.call(as: h.admin) { try await h.adminService.registerDeliveryPayload(request: request, context: .test) }
      #expect(first.payload.deliveryPayloadID == second.payload.deliveryPayloadID)
      #expect(try await h.pool.query(
        "SELECT count(*) FROM event_source.events WHERE key = \(first.payload.deliveryPayloadID)")[0].decode(Int.self, at: 0) == 1)
      #expect(try await h.pool.query(
        "SELECT count(*) FROM hermes.payloads WHERE recipient_user_id = \(UUID(uuidString: request.recipientUserID)!)")[0]
        .decode(Int.self, at: 0) == 1)
    }
  }

  @Test("only admins register payloads and deliverers; deliverers need ROLE_DELIVERER and register once")
  func adminAuthorization() async throws {
    try await Harness.with { h in
      let user = Caller(userID: h.directory.add(), roles: ["user"])
      var payload = Courier_Hermes_V1_RegisterDeliveryPayloadRequest()
      payload.title = "t"
      payload.recipientUserID = user.userID
      await expectCode(.unauthenticated) { try await h.call(as: nil) { try await h.adminService.registerDeliveryPayload(request: payload, context: .test) } }
      await expectCode(.permissionDenied) { try await h.call(as: user) { try await h.adminService.registerDeliveryPayload(request: payload, context: .test) } }

      var deliverer = Courier_Hermes_V1_RegisterDelivererRequest()
      deliverer.userID = user.userID
      deliverer.displayName = "Plain user"
      await expectCode(.permissionDenied) { try await h.call(as: user) { try await h.adminService.registerDeliverer(request: deliverer, context: .test) } }
      await expectCode(.failedPrecondition) { try await h.call(as: h.admin) { try await h.adminService.registerDeliverer(request: deliverer, context: .test) } }
      let (registered, caller) = try await h.registerDeliverer(name: "Dora")
      #expect(registered.vehicle.kind == .cargoBike)
      deliverer.userID = caller.userID
      await expectCode(.alreadyExists) { try await h.call(as: h.admin) { try await h.adminService.registerDeliverer(request: deliverer, context: .test) } }
      deliverer.vehicle.plate = String(repeating: "P", count: 21)
      await expectCode(.invalidArgument) { try await h.call(as: h.admin) { try await h.adminService.registerDeliverer(request: deliverer, context: .test) } }
    }
  }

  @Test("status lifecycle and assignment rules")
  func lifecycle() async throws {
    try await Harness.with { h in
      let payload = try await h.registerPayload()
      await expectCode(.failedPrecondition) { try await h.setStatus(payload, .pickedUp) }  // no deliverer
      let (deliverer, _) = try await h.registerDeliverer()
      var assign = Courier_Hermes_V1_AssignDeliveryPayloadRequest()
      assign.deliveryPayloadID = payload.deliveryPayloadID
      assign.delivererID = UUID().uuidString.lowercased()
      await expectCode(.failedPrecondition) { try await h.call(as: h.admin) { try await h.adminService.assignDeliveryPayload(request: assign, context: .test) } }
      try await h.assign(payload, to: deliverer)
      try await h.setStatus(payload, .inTransit)
      try await h.setStatus(payload, .inTransit)  // the same status: nothing recorded
      await expectCode(.failedPrecondition) { try await h.setStatus(payload, .pickedUp) }
      assign.delivererID = ""
      await expectCode(.failedPrecondition) { try await h.call(as: h.admin) { try await h.adminService.assignDeliveryPayload(request: assign, context: .test) } }
      try await h.setStatus(payload, .delivered)
      await expectCode(.failedPrecondition) { try await h.setStatus(payload, .failed) }
      await expectCode(.invalidArgument) { try await h.setStatus(payload, .unspecified) }

      var get = Courier_Hermes_V1_GetDeliveryPayloadRequest()
      get.deliveryPayloadID = payload.deliveryPayloadID
      let read = try await h.call(as: h.admin) { try await h.adminService.getDeliveryPayload(request: get, context: .test) }
      #expect(read.statusHistory.map(\.status) == [.registered, .inTransit, .delivered])
      #expect(read.payload.delivererID == deliverer.delivererID)
      get.deliveryPayloadID = UUID().uuidString.lowercased()
      await expectCode(.notFound) { try await h.call(as: h.admin) { try await h.adminService.getDeliveryPayload(request: get, context: .test) } }
    }
  }

  @Test("listing pages with filter-bound tokens")
  func listing() async throws {
    try await Harness.with { h in
      let recipient = h.directory.add()
      for index in 0..<5 {
        h.clock.advance(by: 1)
        _ = try await h.registerPayload(title: "P\(index)", recipient: recipient)
      }
      var request = Courier_Hermes_V1_ListDeliveryPayloadsRequest()
      request.page.pageSize = 2
      request.recipientUserID = recipient
      let first = try await h.call(as: h.admin) { try await h.adminService.listDeliveryPayloads(request: request, context: .test) }
      #expect(first.payloads.map(\.title) == ["P4", "P3"])
      #expect(first.pageInfo.totalSize == 5)
      request.page.pageToken = first.pageInfo.nextPageToken
      let second = try await h.call(as: h.admin) { try await h.adminService.listDeliveryPayloads(request: request, context: .test) }
      #expect(second.payloads.map(\.title) == ["P2", "P1"])
      request.status = .delivered
      await expectCode(.invalidArgument) { try await h.call(as: h.admin) { try await h.adminService.listDeliveryPayloads(request: request, context: .test) } }
      request.page = .init()
      let none = try await h.call(as: h.admin) { try await h.adminService.listDeliveryPayloads(request: request, context: .test) }
      #expect(none.payloads.isEmpty && none.pageInfo.totalSize == 0)
    }
  }

  @Test("subscriptions: each user sees only their own; renaming, limits, bad codes, final payloads")
  func subscriptions() async throws {
    try await Harness.with { h in
      let payload = try await h.registerPayload()
      let other = try await h.registerPayload()
      let alice = try await h.subscribe(payload, title: "Shoes")
      let bob = try await h.subscribe(other, title: "Lamp")
      _ = try await h.subscribe(payload, userID: alice.userID, title: "  Renamed  ")
      let mine = try await h.call(as: alice) { try await h.tracking.getAllPayloadSubscriptions(request: .init(), context: .test) }
      #expect(mine.subscriptions.map(\.payloadTrackingCode) == [payload.trackingCode])
      #expect(mine.subscriptions.first?.title == "Renamed")
      let his = try await h.call(as: bob) { try await h.tracking.getAllPayloadSubscriptions(request: .init(), context: .test) }
      #expect(his.subscriptions.map(\.title) == ["Lamp"])
      await expectCode(.unauthenticated) { try await h.call(as: nil) { try await h.tracking.getAllPayloadSubscriptions(request: .init(), context: .test) } }

      var request = Courier_Hermes_V1_CreatePayloadSubscriptionRequest()
      request.title = "x"
      request.payloadTrackingCode = "NOT-A-CODE"
      await expectCode(.invalidArgument) { try await h.call(as: alice) { try await h.tracking.createPayloadSubscription(request: request, context: .test) } }
      request.payloadTrackingCode = "0000000000ZZ"
      await expectCode(.notFound) { try await h.call(as: alice) { try await h.tracking.createPayloadSubscription(request: request, context: .test) } }
      request.payloadTrackingCode = payload.trackingCode.lowercased()
      request.title = "   "
      await expectCode(.invalidArgument) { try await h.call(as: alice) { try await h.tracking.createPayloadSubscription(request: request, context: .test) } }

      try await h.setStatus(other, .failed)
      request.payloadTrackingCode = other.trackingCode
      request.title = "late"
      await expectCode(.failedPrecondition) { try await h.call(as: alice) { try await h.tracking.createPayloadSubscription(request: request, context: .test) } }

      var remove = Courier_Hermes_V1_RemovePayloadSubscriptionRequest()
      remove.payloadTrackingCode = payload.trackingCode
      #expect(try await h.call(as: alice) { try await h.tracking.removePayloadSubscription(request: remove, context: .test) }.removed)
      #expect(try await !h.call(as: alice) { try await h.tracking.removePayloadSubscription(request: remove, context: .test) }.removed)
    }
  }

  @Test("a person may follow at most maxSubscriptions payloads")
  func subscriptionLimit() async throws {
    try await Harness.with(configuration: HermesConfiguration(maxSubscriptions: 2)) { h in
      let user = h.directory.add()
      let payloads = [try await h.registerPayload(), try await h.registerPayload(), try await h.registerPayload()]
      try await h.subscribe(payloads[0], userID: user)
      try await h.subscribe(payloads[1], userID: user)
      try await h.subscribe(payloads[1], userID: user, title: "rename is fine at the limit")
      await expectCode(.resourceExhausted) { try await h.subscribe(payloads[2], userID: user) }
    }
  }
}
