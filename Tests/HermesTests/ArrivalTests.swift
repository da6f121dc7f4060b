import ContractRuntime
import CourierTestSupport
import EventSource
import Foundation
import Gateway
import Generated
import GRPCCore
@testable import Hermes
import Postgres
import SwiftProtobuf
import Testing

@Suite("Arrival estimates, once-only notices and phones (Postgres; fake Asgardian and Iris)", .serialized, .sharedCluster)
struct ArrivalTests {
  static let changed = Courier_Events_V1_DeliveryPayloadStatusChanged.eventBinding.typeName

  func setDestination(_ h: Harness, _ payload: Courier_Hermes_V1_DeliveryPayload, metersNorth: Double) async throws {
    var request = Courier_Hermes_V1_SetDeliveryPayloadDestinationRequest()
    request.deliveryPayloadID = payload.deliveryPayloadID
    request.destination.latitude = 52.52 + metersNorth / 111_195
    request.destination.longitude = 13.405
    _ = try await h.call(as: h.admin) { try await h.adminService.setDeliveryPayloadDestination(request: request, context: .test) }
  }

  @Test("the estimate falls fix by fix; arriving soon is told once per subscriber, delivered once")
  func arriving() async throws {
    let arrival = ArrivalEstimator(arrivingRadius: 150, arrivingWithin: 20)
    try await Harness.with(configuration: HermesConfiguration(arrival: arrival)) { h in
      let (payload, _, caller) = try await h.carriedPayload()
      try await setDestination(h, payload, metersNorth: 1_000)
      let start = try await h.lastSeq()
      let alice = try await h.subscribe(payload, title: "Shoes")
      try await h.subscribe(payload, title: "Gift")
      var seq = start
      var remaining: [Double] = []
      // 100 m every 10 s towards the destination, then two more fixes at the door.
      for step in 0..<12 {
        h.clock.advance(by: 10)
        _ = try await h.report(h.location(meters: Double(min(step, 10)) * 100), as: caller)
        try await h.handle(type: Harness.moved, after: seq)
        seq = try await h.lastSeq()
        let listed = try await h.call(as: alice) { try await h.tracking.getAllPayloadSubscriptions(request: .init(), context: .test) }
        let subscription = try #require(listed.subscriptions.first)
        #expect(subscription.hasDestination)
        if step > 0 && step <= 10 { remaining.append(subscription.arrivalEstimate.remainingSeconds) }
      }
      #expect(remaining.count == 10)
      #expect(zip(remaining, remaining.dropFirst()).allSatisfy { $0 > $1 })
      #expect(abs(remaining[0] - 90) < 1)  // after the second fix: 900 m at 10 m/s
      let arriving = h.notifier.pushes.filter { $0.kind == .arriving }
      #expect(arriving.count == 2)
      #expect(Set(arriving.map(\.idempotencyKey)).count == 2)
      #expect(arriving.allSatisfy { $0.idempotencyKey.hasPrefix("arriving:\(payload.deliveryPayloadID):") })
      #expect(arriving.allSatisfy { $0.pushRequest.title.hasSuffix(": arriving soon") && $0.pushRequest.tag.hasPrefix("arriving:") })
      let arrivingMails = h.notifier.mails.filter { $0.kind == .arriving }
      #expect(arrivingMails.count == 2)
      #expect(arrivingMails.allSatisfy { $0.mailRequest.template.name == "payload-arriving" && $0.arrival.hasSuffix(" m away") })

      // A redelivery of every location event tells nobody again.
      let before = h.notifier.pushes.count
      for record in try await h.records(type: Harness.moved, after: start) { _ = try await h.consumer.handle(record) }
      #expect(h.notifier.pushes.filter { $0.kind == .arriving }.count == 2)
      #expect(h.notifier.pushes.count == before)

      let statusSeq = try await h.lastSeq()
      try await h.setStatus(payload, .delivered)
      try await h.setStatus(payload, .delivered)  // no change, no event
      #expect(try await h.handle(type: Self.changed, after: statusSeq) == [.processed])
      for record in try await h.records(type: Self.changed, after: statusSeq) { _ = try await h.consumer.handle(record) }
      let delivered = h.notifier.pushes.filter { $0.kind == .delivered }
      #expect(delivered.count == 2 && h.notifier.mails.filter { $0.kind == .delivered }.count == 2)
      #expect(delivered.allSatisfy { $0.pushRequest.body.contains("was delivered") })
      let listed = try await h.call(as: alice) { try await h.tracking.getAllPayloadSubscriptions(request: .init(), context: .test) }
      #expect(listed.subscriptions.first?.hasArrivalEstimate == false)
    }
  }

  @Test("a phone's reports are fixes of its deliverer; unknown and revoked identifiers get one answer")
  func phones() async throws {
    try await Harness.with { h in
      let (_, deliverer, _) = try await h.carriedPayload()
      var register = Courier_Hermes_V1_RegisterDelivererDeviceRequest()
      register.delivererID = deliverer.delivererID
      register.label = "Pixel"
      let phone = try await h.call(as: h.admin) { try await h.adminService.registerDelivererDevice(request: register, context: .test) }
      #expect(phone.deviceIdentifier.count == 32 && phone.device.identifierHint == String(phone.deviceIdentifier.prefix(4)))
      let endpoint = OsmAndEndpoint(core: h.core)
      let start = try await h.lastSeq()
      func send(_ id: String, lat: Double, secondsAgo: TimeInterval) async -> GatewayResponse {
        let stamp = Int(h.clock.now.addingTimeInterval(-secondsAgo).timeIntervalSince1970)
        return await endpoint.respond(to: GatewayRequest(method: "GET", target: "/tracking/osmand?id=\(id)&lat=\(lat)&lon=13.405&timestamp=\(stamp)"))
      }
      let accepted = await send(phone.deviceIdentifier, lat: 52.52, secondsAgo: 20)
      #expect(accepted.status == 200)
      #expect(String(decoding: accepted.bytes, as: UTF8.self) == #"{"accepted":true,"movedPayloadCount":1}"#)
      #expect(try await h.records(type: Harness.moved, after: start).count == 1)
      // Resent: refused by the fix checks, but 200 so that the phone's queue moves on.
      let resent = await send(phone.deviceIdentifier, lat: 52.52, secondsAgo: 20)
      #expect(resent.status == 200 && String(decoding: resent.bytes, as: UTF8.self).contains("OUT_OF_ORDER"))
      let malformed = await send(phone.deviceIdentifier, lat: 91, secondsAgo: 10)
      #expect(malformed.status == 400 && String(decoding: malformed.bytes, as: UTF8.self).contains(#""field":"lat""#))
      let post = await endpoint.respond(to: GatewayRequest(method: "PUT", target: "/tracking/osmand"))
      #expect(post.status == 405)

      var revoke = Courier_Hermes_V1_RevokeDelivererDeviceRequest()
      revoke.deviceID = phone.device.deviceID
      _ = try await h.call(as: h.admin) { try await h.adminService.revokeDelivererDevice(request: revoke, context: .test) }
      let revoked = await send(phone.deviceIdentifier, lat: 52.521, secondsAgo: 5)
      let unknown = await send(DeviceIdentifier.make(), lat: 52.521, secondsAgo: 5)
      #expect(revoked.status == 403 && unknown.status == 403 && revoked.bytes == unknown.bytes)
      #expect(try await h.records(type: Harness.moved, after: start).count == 1)
      var list = Courier_Hermes_V1_ListDelivererDevicesRequest()
      list.delivererID = deliverer.delivererID
      let listed = try await h.call(as: h.admin) { try await h.adminService.listDelivererDevices(request: list, context: .test) }
      #expect(listed.devices.count == 1 && listed.devices[0].hasRevokedAt && listed.devices[0].hasLastReportAt)
    }
  }
}
