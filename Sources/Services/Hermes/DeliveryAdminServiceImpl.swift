package import Generated
package import GRPCCore

/// DeliveryAdminService (REST + gRPC, role `admin`): payloads, deliverers, assignments, the fleet's map.
package struct DeliveryAdminServiceImpl: Courier_Hermes_V1_DeliveryAdminService.SimpleServiceProtocol {
  let core: HermesCore

  package init(core: HermesCore) {
    self.core = core
  }

  package func registerDeliveryPayload(
    request: Courier_Hermes_V1_RegisterDeliveryPayloadRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_RegisterDeliveryPayloadResponse {
    var response = Courier_Hermes_V1_RegisterDeliveryPayloadResponse()
    response.payload = try await core.registerPayload(request).message
    return response
  }

  package func listDeliveryPayloads(
    request: Courier_Hermes_V1_ListDeliveryPayloadsRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_ListDeliveryPayloadsResponse {
    let (rows, info) = try await core.listPayloads(request)
    var response = Courier_Hermes_V1_ListDeliveryPayloadsResponse()
    response.payloads = rows.map(\.message)
    response.pageInfo = info
    return response
  }

  package func getDeliveryPayload(
    request: Courier_Hermes_V1_GetDeliveryPayloadRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetDeliveryPayloadResponse {
    let found = try await core.getPayload(request)
    var response = Courier_Hermes_V1_GetDeliveryPayloadResponse()
    response.payload = found.payload.message
    response.statusHistory = found.history
    return response
  }

  package func updateDeliveryPayloadStatus(
    request: Courier_Hermes_V1_UpdateDeliveryPayloadStatusRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_UpdateDeliveryPayloadStatusResponse {
    var response = Courier_Hermes_V1_UpdateDeliveryPayloadStatusResponse()
    response.payload = try await core.updateStatus(request).message
    return response
  }

  package func registerDeliverer(
    request: Courier_Hermes_V1_RegisterDelivererRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_RegisterDelivererResponse {
    var response = Courier_Hermes_V1_RegisterDelivererResponse()
    response.deliverer = try await core.registerDeliverer(request).message
    return response
  }

  package func listDeliverers(
    request: Courier_Hermes_V1_ListDeliverersRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_ListDeliverersResponse {
    let (rows, info) = try await core.listDeliverers(request)
    var response = Courier_Hermes_V1_ListDeliverersResponse()
    response.deliverers = rows.map(\.message)
    response.pageInfo = info
    return response
  }

  package func assignDeliveryPayload(
    request: Courier_Hermes_V1_AssignDeliveryPayloadRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_AssignDeliveryPayloadResponse {
    var response = Courier_Hermes_V1_AssignDeliveryPayloadResponse()
    response.payload = try await core.assign(request).message
    return response
  }

  package func watchDelivererPositions(
    request: Courier_Hermes_V1_WatchDelivererPositionsRequest,
    response: RPCWriter<Courier_Hermes_V1_WatchDelivererPositionsResponse>,
    context: ServerContext
  ) async throws {
    try await core.watchDeliverers(request) { try await response.write($0) }
  }

  package func setDeliveryPayloadDestination(
    request: Courier_Hermes_V1_SetDeliveryPayloadDestinationRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_SetDeliveryPayloadDestinationResponse {
    var response = Courier_Hermes_V1_SetDeliveryPayloadDestinationResponse()
    response.payload = try await core.setDestination(request).message
    return response
  }

  package func registerDelivererDevice(
    request: Courier_Hermes_V1_RegisterDelivererDeviceRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_RegisterDelivererDeviceResponse {
    let (device, identifier) = try await core.registerDevice(request)
    var response = Courier_Hermes_V1_RegisterDelivererDeviceResponse()
    response.device = device.message
    response.deviceIdentifier = identifier
    response.serverURL = core.configuration.deviceURL
    return response
  }

  package func listDelivererDevices(
    request: Courier_Hermes_V1_ListDelivererDevicesRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_ListDelivererDevicesResponse {
    var response = Courier_Hermes_V1_ListDelivererDevicesResponse()
    response.devices = try await core.listDevices(request).map(\.message)
    response.serverURL = core.configuration.deviceURL
    return response
  }

  package func revokeDelivererDevice(
    request: Courier_Hermes_V1_RevokeDelivererDeviceRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_RevokeDelivererDeviceResponse {
    var response = Courier_Hermes_V1_RevokeDelivererDeviceResponse()
    response.device = try await core.revokeDevice(request).message
    return response
  }
}
