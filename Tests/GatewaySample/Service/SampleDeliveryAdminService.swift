import ContractRuntime
import Foundation
package import Generated
package import GRPCCore
import SwiftProtobuf
import Synchronization

/// Hermes' DeliveryAdminService over `SampleStore`: enough of the documented behaviour to exercise
/// paging (`page.page_size`), enum and repeated query parameters, PUT bodies and a second stream.
package struct SampleDeliveryAdminService: Courier_Hermes_V1_DeliveryAdminService.SimpleServiceProtocol {
  let store: SampleStore

  package init(store: SampleStore) {
    self.store = store
  }

  package func registerDeliveryPayload(
    request: Courier_Hermes_V1_RegisterDeliveryPayloadRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_RegisterDeliveryPayloadResponse {
    let caller = try SampleStore.caller()
    try SampleStore.length(request.title, field: "title", in: 1...100)
    try SampleStore.length(request.description_p, field: "description", in: 0...2_000)
    _ = try SampleStore.uuid(request.recipientUserID, field: "recipient_user_id")
    if !request.requestID.isEmpty { _ = try SampleStore.uuid(request.requestID, field: "request_id") }
    if request.hasDestination { try Self.checkDestination(request.destination) }
    let payload = store.state.withLock { state -> Courier_Hermes_V1_DeliveryPayload in
      if !request.requestID.isEmpty, let id = state.byRequestID[request.requestID], let existing = state.payloads[id] {
        return existing
      }
      var payload = Courier_Hermes_V1_DeliveryPayload()
      payload.deliveryPayloadID = UUID().uuidString.lowercased()
      state.codeCounter += 1
      payload.trackingCode = Self.code(state.codeCounter)
      payload.title = request.title
      payload.description_p = request.description_p
      payload.recipientUserID = request.recipientUserID
      payload.status = .registered
      if request.hasDestination { payload.destination = request.destination }
      payload.createdAt = SampleStore.timestamp(&state)
      payload.updatedAt = payload.createdAt
      SampleStore.insert(payload, into: &state, by: caller.userID)
      if !request.requestID.isEmpty { state.byRequestID[request.requestID] = payload.deliveryPayloadID }
      return payload
    }
    var response = Courier_Hermes_V1_RegisterDeliveryPayloadResponse()
    response.payload = payload
    return response
  }

  package func listDeliveryPayloads(
    request: Courier_Hermes_V1_ListDeliveryPayloadsRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_ListDeliveryPayloadsResponse {
    _ = try SampleStore.caller()
    if !request.delivererID.isEmpty { _ = try SampleStore.uuid(request.delivererID, field: "deliverer_id") }
    if !request.recipientUserID.isEmpty { _ = try SampleStore.uuid(request.recipientUserID, field: "recipient_user_id") }
    if case .UNRECOGNIZED(let value) = request.status {
      throw RPCError(code: .invalidArgument, message: "status \(value) is not a DeliveryPayloadStatus")
    }
    let matching = store.state.withLock { state in
      state.order.reversed().compactMap { state.payloads[$0] }.filter { payload in
        (request.status == .unspecified || payload.status == request.status)
          && (request.delivererID.isEmpty || payload.delivererID == request.delivererID)
          && (request.recipientUserID.isEmpty || payload.recipientUserID == request.recipientUserID)
      }
    }
    let filterKey = "p\(request.status.rawValue)-\(request.delivererID)-\(request.recipientUserID)"
    let (range, info) = try SampleStore.page(request.page, total: matching.count, filterKey: filterKey)
    var response = Courier_Hermes_V1_ListDeliveryPayloadsResponse()
    response.payloads = Array(matching[range])
    response.pageInfo = info
    return response
  }

  package func getDeliveryPayload(
    request: Courier_Hermes_V1_GetDeliveryPayloadRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetDeliveryPayloadResponse {
    _ = try SampleStore.caller()
    let id = try SampleStore.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    return try store.state.withLock { state in
      guard let payload = state.payloads[id] else {
        throw RPCError(code: .notFound, message: "no payload has id \(id)")
      }
      var response = Courier_Hermes_V1_GetDeliveryPayloadResponse()
      response.payload = payload
      response.statusHistory = state.history[id] ?? []
      return response
    }
  }

  package func updateDeliveryPayloadStatus(
    request: Courier_Hermes_V1_UpdateDeliveryPayloadStatusRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_UpdateDeliveryPayloadStatusResponse {
    let caller = try SampleStore.caller()
    let id = try SampleStore.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    switch request.status {
    case .unspecified, .UNRECOGNIZED:
      throw RPCError(code: .invalidArgument, message: "status must be a DeliveryPayloadStatus other than UNSPECIFIED")
    default: break
    }
    try SampleStore.length(request.note, field: "note", in: 0...500)
    let (payload, changed) = try store.state.withLock { state -> (Courier_Hermes_V1_DeliveryPayload, Bool) in
      guard var payload = state.payloads[id] else {
        throw RPCError(code: .notFound, message: "no payload has id \(id)")
      }
      if payload.status == request.status { return (payload, false) }
      let final: Set<Courier_Hermes_V1_DeliveryPayloadStatus> = [.delivered, .failed]
      let forward = request.status == .failed || request.status.rawValue > payload.status.rawValue
      guard !final.contains(payload.status), forward else {
        throw RPCError(code: .failedPrecondition, message: "a payload cannot move from \(payload.status) to \(request.status)")
      }
      if request.status != .failed && request.status != .registered && payload.delivererID.isEmpty {
        throw RPCError(code: .failedPrecondition, message: "assign a deliverer before \(request.status)")
      }
      payload.status = request.status
      payload.updatedAt = SampleStore.timestamp(&state)
      state.payloads[id] = payload
      var change = Courier_Hermes_V1_DeliveryPayloadStatusChange()
      change.status = request.status
      change.changedAt = payload.updatedAt
      change.changedByUserID = caller.userID
      change.note = request.note
      state.history[id, default: []].append(change)
      return (payload, true)
    }
    if changed { store.publish(payload) }
    var response = Courier_Hermes_V1_UpdateDeliveryPayloadStatusResponse()
    response.payload = payload
    return response
  }

  package func registerDeliverer(
    request: Courier_Hermes_V1_RegisterDelivererRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_RegisterDelivererResponse {
    _ = try SampleStore.caller()
    let userID = try SampleStore.uuid(request.userID, field: "user_id")
    try SampleStore.length(request.displayName, field: "display_name", in: 1...100)
    try SampleStore.length(request.vehicle.plate, field: "vehicle.plate", in: 0...20)
    let deliverer = try store.state.withLock { state in
      guard !state.deliverers.values.contains(where: { $0.userID == userID }) else {
        throw RPCError(code: .alreadyExists, message: "user \(userID) is already a deliverer")
      }
      var deliverer = Courier_Hermes_V1_Deliverer()
      deliverer.delivererID = UUID().uuidString.lowercased()
      deliverer.userID = userID
      deliverer.displayName = request.displayName
      if request.hasVehicle { deliverer.vehicle = request.vehicle }
      deliverer.createdAt = SampleStore.timestamp(&state)
      state.deliverers[deliverer.delivererID] = deliverer
      return deliverer
    }
    var response = Courier_Hermes_V1_RegisterDelivererResponse()
    response.deliverer = deliverer
    return response
  }

  package func listDeliverers(
    request: Courier_Hermes_V1_ListDeliverersRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_ListDeliverersResponse {
    _ = try SampleStore.caller()
    let all = store.state.withLock { state in
      state.deliverers.values.sorted { ($0.displayName, $0.delivererID) < ($1.displayName, $1.delivererID) }
    }
    let (range, info) = try SampleStore.page(request.page, total: all.count, filterKey: "d")
    var response = Courier_Hermes_V1_ListDeliverersResponse()
    response.deliverers = Array(all[range])
    response.pageInfo = info
    return response
  }

  package func assignDeliveryPayload(
    request: Courier_Hermes_V1_AssignDeliveryPayloadRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_AssignDeliveryPayloadResponse {
    _ = try SampleStore.caller()
    let id = try SampleStore.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    if !request.delivererID.isEmpty { _ = try SampleStore.uuid(request.delivererID, field: "deliverer_id") }
    let payload = try store.state.withLock { state in
      guard var payload = state.payloads[id] else {
        throw RPCError(code: .notFound, message: "no payload has id \(id)")
      }
      if payload.delivererID == request.delivererID { return payload }
      guard request.delivererID.isEmpty || state.deliverers[request.delivererID] != nil else {
        throw RPCError(code: .failedPrecondition, message: "no deliverer has id \(request.delivererID)")
      }
      guard payload.status != .delivered && payload.status != .failed else {
        throw RPCError(code: .failedPrecondition, message: "payload \(id) is \(payload.status)")
      }
      if request.delivererID.isEmpty && (payload.status == .pickedUp || payload.status == .inTransit) {
        throw RPCError(code: .failedPrecondition, message: "a carried payload needs a deliverer")
      }
      payload.delivererID = request.delivererID
      payload.updatedAt = SampleStore.timestamp(&state)
      state.payloads[id] = payload
      return payload
    }
    var response = Courier_Hermes_V1_AssignDeliveryPayloadResponse()
    response.payload = payload
    return response
  }

  package func watchDelivererPositions(
    request: Courier_Hermes_V1_WatchDelivererPositionsRequest,
    response: RPCWriter<Courier_Hermes_V1_WatchDelivererPositionsResponse>,
    context: ServerContext
  ) async throws {
    _ = try SampleStore.caller()
    guard request.delivererIds.count <= 500 else {
      throw RPCError(code: .invalidArgument, message: "deliverer_ids has more than 500 entries")
    }
    for id in request.delivererIds { _ = try SampleStore.uuid(id, field: "deliverer_ids") }
    let deliverers = try store.state.withLock { state in
      for id in request.delivererIds where state.deliverers[id] == nil {
        throw RPCError(code: .notFound, message: "no deliverer has id \(id)")
      }
      let ids = request.delivererIds.isEmpty ? Array(state.deliverers.keys) : request.delivererIds
      return ids.sorted().compactMap { state.deliverers[$0] }
    }
    for deliverer in deliverers where deliverer.hasLastLocation {
      var position = Courier_Hermes_V1_WatchDelivererPositionsResponse()
      position.delivererID = deliverer.delivererID
      position.displayName = deliverer.displayName
      position.location = deliverer.lastLocation
      position.receivedAt = deliverer.lastSeenAt
      try await response.write(position)
    }
    // The sample has no position reports; the stream stays open until the client leaves.
    for await _ in store.changes() {}
  }

  package func setDeliveryPayloadDestination(
    request: Courier_Hermes_V1_SetDeliveryPayloadDestinationRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_SetDeliveryPayloadDestinationResponse {
    _ = try SampleStore.caller()
    let id = try SampleStore.uuid(request.deliveryPayloadID, field: "delivery_payload_id")
    let point = request.destination
    try Self.checkDestination(point)
    let payload = try store.state.withLock { state in
      guard var payload = state.payloads[id] else { throw RPCError(code: .notFound, message: "no payload has id \(id)") }
      guard payload.status != .delivered && payload.status != .failed else {
        throw RPCError(code: .failedPrecondition, message: "payload \(id) is \(payload.status)")
      }
      if request.hasDestination { payload.destination = point } else { payload.clearDestination() }
      payload.updatedAt = SampleStore.timestamp(&state)
      state.payloads[id] = payload
      return payload
    }
    var response = Courier_Hermes_V1_SetDeliveryPayloadDestinationResponse()
    response.payload = payload
    return response
  }

  package func registerDelivererDevice(
    request: Courier_Hermes_V1_RegisterDelivererDeviceRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_RegisterDelivererDeviceResponse {
    _ = try SampleStore.caller()
    let delivererID = try SampleStore.uuid(request.delivererID, field: "deliverer_id")
    try SampleStore.length(request.label, field: "label", in: 1...100)
    let identifier = Self.code(UInt64.random(in: 0...UInt64.max)) + Self.code(UInt64.random(in: 0...UInt64.max))
    let device = try store.state.withLock { state in
      guard state.deliverers[delivererID] != nil else {
        throw RPCError(code: .notFound, message: "no deliverer has id \(delivererID)")
      }
      var device = Courier_Hermes_V1_DelivererDevice()
      device.deviceID = UUID().uuidString.lowercased()
      device.delivererID = delivererID
      device.label = request.label
      device.identifierHint = String(identifier.prefix(4))
      device.createdAt = SampleStore.timestamp(&state)
      state.devices[device.deviceID] = device
      return device
    }
    var response = Courier_Hermes_V1_RegisterDelivererDeviceResponse()
    response.device = device
    response.deviceIdentifier = identifier
    response.serverURL = "http://127.0.0.1/tracking/osmand"
    return response
  }

  package func listDelivererDevices(
    request: Courier_Hermes_V1_ListDelivererDevicesRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_ListDelivererDevicesResponse {
    _ = try SampleStore.caller()
    let delivererID = try SampleStore.uuid(request.delivererID, field: "deliverer_id")
    var response = Courier_Hermes_V1_ListDelivererDevicesResponse()
    response.devices = try store.state.withLock { state in
      guard state.deliverers[delivererID] != nil else {
        throw RPCError(code: .notFound, message: "no deliverer has id \(delivererID)")
      }
      return state.devices.values.filter { $0.delivererID == delivererID }.sorted { $0.createdAt.seconds > $1.createdAt.seconds }
    }
    response.serverURL = "http://127.0.0.1/tracking/osmand"
    return response
  }

  package func revokeDelivererDevice(
    request: Courier_Hermes_V1_RevokeDelivererDeviceRequest,
    context: ServerContext
  ) async throws -> Courier_Hermes_V1_RevokeDelivererDeviceResponse {
    _ = try SampleStore.caller()
    let id = try SampleStore.uuid(request.deviceID, field: "device_id")
    var response = Courier_Hermes_V1_RevokeDelivererDeviceResponse()
    response.device = try store.state.withLock { state in
      guard var device = state.devices[id] else { throw RPCError(code: .notFound, message: "no device has id \(id)") }
      if !device.hasRevokedAt { device.revokedAt = SampleStore.timestamp(&state) }
      state.devices[id] = device
      return device
    }
    return response
  }

  static func checkDestination(_ point: Courier_Common_V1_GeoPoint) throws {
    guard (-90...90).contains(point.latitude), (-180...180).contains(point.longitude) else {
      throw RPCError(code: .invalidArgument, message: "destination is out of range")
    }
  }

  /// The n-th tracking code: 12 characters of Crockford's base32.
  static func code(_ number: UInt64) -> String {
    let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    var value = number &* 0x9E37_79B9_7F4A_7C15
    var result = ""
    for _ in 0..<12 {
      result.append(alphabet[Int(value & 31)])
      value >>= 5
    }
    return result
  }
}
