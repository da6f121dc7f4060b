import ContractRuntime
package import Generated
package import GRPCCore
import Foundation
import SwiftProtobuf
import Synchronization

/// Hermes' TrackingService over `SampleStore`, following the proto's documented behaviour and
/// error codes closely enough for the gateway's tests.
package struct SampleTrackingService: Courier_Hermes_V1_TrackingService.SimpleServiceProtocol {
  let store: SampleStore

  package init(store: SampleStore) {
    self.store = store
  }

  package func createPayloadSubscription(
    request: Courier_Hermes_V1_CreatePayloadSubscriptionRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_CreatePayloadSubscriptionResponse {
    let caller = try SampleStore.caller()
    let code = try SampleStore.trackingCode(request.payloadTrackingCode)
    try SampleStore.length(request.title, field: "title", in: 1...100)
    let subscription = try store.state.withLock { state -> Courier_Hermes_V1_PayloadSubscription in
      guard let id = state.byTrackingCode[code], let payload = state.payloads[id] else {
        throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
      }
      guard payload.status != .delivered && payload.status != .failed else {
        throw RPCError(code: .failedPrecondition, message: "payload \(code) is \(payload.status); there is nothing left to follow")
      }
      var mine = state.subscriptions[caller.userID] ?? [:]
      if mine[code] == nil && mine.count >= 100 {
        throw RPCError(code: .resourceExhausted, message: "you already follow 100 payloads")
      }
      var subscription = mine[code] ?? Courier_Hermes_V1_PayloadSubscription()
      if mine[code] == nil { subscription.subscribedAt = SampleStore.timestamp(&state) }
      subscription.payloadTrackingCode = code
      subscription.title = request.title
      Self.fill(&subscription, from: payload)
      mine[code] = subscription
      state.subscriptions[caller.userID] = mine
      return subscription
    }
    var response = Courier_Hermes_V1_CreatePayloadSubscriptionResponse()
    response.subscription = subscription
    return response
  }

  package func removePayloadSubscription(
    request: Courier_Hermes_V1_RemovePayloadSubscriptionRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_RemovePayloadSubscriptionResponse {
    let caller = try SampleStore.caller()
    let code = try SampleStore.trackingCode(request.payloadTrackingCode)
    let removed = try store.state.withLock { state -> Bool in
      guard state.byTrackingCode[code] != nil else {
        throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
      }
      return state.subscriptions[caller.userID]?.removeValue(forKey: code) != nil
    }
    var response = Courier_Hermes_V1_RemovePayloadSubscriptionResponse()
    response.removed = removed
    return response
  }

  package func getAllPayloadSubscriptions(
    request: Courier_Hermes_V1_GetAllPayloadSubscriptionsRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetAllPayloadSubscriptionsResponse {
    let caller = try SampleStore.caller()
    var response = Courier_Hermes_V1_GetAllPayloadSubscriptionsResponse()
    response.subscriptions = store.state.withLock { state in
      (state.subscriptions[caller.userID] ?? [:]).values.map { subscription in
        var current = subscription
        if let id = state.byTrackingCode[subscription.payloadTrackingCode], let payload = state.payloads[id] {
          Self.fill(&current, from: payload)
        }
        return current
      }
      .sorted { ($0.updatedAt.seconds, $0.payloadTrackingCode) > ($1.updatedAt.seconds, $1.payloadTrackingCode) }
    }
    return response
  }

  package func watchPayloadPositions(
    request: Courier_Hermes_V1_WatchPayloadPositionsRequest,
    response: RPCWriter<Courier_Hermes_V1_WatchPayloadPositionsResponse>,
    context: ServerContext
  ) async throws {
    let caller = try SampleStore.caller()
    var wanted: [String] = []
    for code in request.payloadTrackingCodes {
      wanted.append(try SampleStore.trackingCode(code, field: "payload_tracking_codes"))
    }
    let changes = store.changes()
    let (watched, initial) = try store.state.withLock { state -> (Set<String>, [Courier_Hermes_V1_DeliveryPayload]) in
      let followed = state.subscriptions[caller.userID] ?? [:]
      for code in wanted where followed[code] == nil {
        throw RPCError(code: .notFound, message: "you do not follow payload \(code)")
      }
      let codes = wanted.isEmpty ? Set(followed.keys) : Set(wanted)
      let payloads = codes.sorted().compactMap { state.byTrackingCode[$0].flatMap { state.payloads[$0] } }
      return (codes, payloads)
    }
    for payload in initial {
      try await response.write(Self.update(from: payload))
    }
    for await payload in changes where watched.contains(payload.trackingCode) {
      try await response.write(Self.update(from: payload))
    }
  }

  package func getPayloadReceipt(
    request: Courier_Hermes_V1_GetPayloadReceiptRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetPayloadReceiptResponse {
    _ = try SampleStore.caller()
    let code = try SampleStore.trackingCode(request.payloadTrackingCode)
    let payload = try store.state.withLock { state in
      guard let id = state.byTrackingCode[code], let payload = state.payloads[id] else {
        throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
      }
      return payload
    }
    var response = Courier_Hermes_V1_GetPayloadReceiptResponse()
    response.contentType = "application/pdf"
    response.content = Data("%PDF-1.4\n% receipt \(code)\n%%EOF\n".utf8)
    response.fileName = "receipt-\(code).pdf"
    response.generatedAt = payload.createdAt
    return response
  }

  /// The sample keeps no position history: the route is the last position, twice.
  package func getPayloadRoute(
    request: Courier_Hermes_V1_GetPayloadRouteRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetPayloadRouteResponse {
    _ = try SampleStore.caller()
    let code = try SampleStore.trackingCode(request.payloadTrackingCode)
    guard request.toleranceMeters.isFinite, (0...10_000).contains(request.toleranceMeters) else {
      throw RPCError(code: .invalidArgument, message: "tolerance_meters must be 0 to 10,000")
    }
    let payload = try store.state.withLock { state in
      guard let id = state.byTrackingCode[code], let payload = state.payloads[id] else {
        throw RPCError(code: .notFound, message: "no payload has tracking code \(code)")
      }
      return payload
    }
    guard payload.hasLastLocation else {
      throw RPCError(code: .failedPrecondition, message: "payload \(code) has no recorded position yet")
    }
    let point = payload.lastLocation.point
    var response = Courier_Hermes_V1_GetPayloadRouteResponse()
    response.type = "Feature"
    response.geometry.type = "LineString"
    let position = Google_Protobuf_ListValue(values: [.init(numberValue: point.longitude), .init(numberValue: point.latitude)])
    response.geometry.coordinates = [position, position]
    response.properties.trackingCode = code
    response.properties.coordTimes = [payload.lastLocation.recordedAt, payload.lastLocation.recordedAt]
    response.properties.fixCount = 1
    return response
  }

  static func fill(_ subscription: inout Courier_Hermes_V1_PayloadSubscription, from payload: Courier_Hermes_V1_DeliveryPayload) {
    subscription.payloadStatus = payload.status
    if payload.hasLastLocation { subscription.lastLocation = payload.lastLocation }
    subscription.updatedAt = payload.updatedAt
  }

  static func update(from payload: Courier_Hermes_V1_DeliveryPayload) -> Courier_Hermes_V1_WatchPayloadPositionsResponse {
    var update = Courier_Hermes_V1_WatchPayloadPositionsResponse()
    update.payloadTrackingCode = payload.trackingCode
    update.payloadStatus = payload.status
    if payload.hasLastLocation { update.location = payload.lastLocation }
    update.updatedAt = payload.updatedAt
    return update
  }
}
