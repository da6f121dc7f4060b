import ContractRuntime
package import Generated
package import GRPCCore

/// TrackingService (REST + gRPC): following payloads by tracking code.
package struct TrackingServiceImpl: Courier_Hermes_V1_TrackingService.SimpleServiceProtocol {
  let core: HermesCore

  package init(core: HermesCore) {
    self.core = core
  }

  package func createPayloadSubscription(
    request: Courier_Hermes_V1_CreatePayloadSubscriptionRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_CreatePayloadSubscriptionResponse {
    var response = Courier_Hermes_V1_CreatePayloadSubscriptionResponse()
    response.subscription = try await core.subscribe(request)
    return response
  }

  package func removePayloadSubscription(
    request: Courier_Hermes_V1_RemovePayloadSubscriptionRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_RemovePayloadSubscriptionResponse {
    var response = Courier_Hermes_V1_RemovePayloadSubscriptionResponse()
    response.removed = try await core.unsubscribe(request)
    return response
  }

  package func getAllPayloadSubscriptions(
    request: Courier_Hermes_V1_GetAllPayloadSubscriptionsRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetAllPayloadSubscriptionsResponse {
    var response = Courier_Hermes_V1_GetAllPayloadSubscriptionsResponse()
    response.subscriptions = try await core.subscriptions()
    return response
  }

  package func watchPayloadPositions(
    request: Courier_Hermes_V1_WatchPayloadPositionsRequest,
    response: RPCWriter<Courier_Hermes_V1_WatchPayloadPositionsResponse>,
    context: ServerContext
  ) async throws {
    try await core.watchPayloads(request) { try await response.write($0) }
  }

  package func getPayloadReceipt(
    request: Courier_Hermes_V1_GetPayloadReceiptRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetPayloadReceiptResponse {
    try await core.receipt(request)
  }

  package func getPayloadRoute(
    request: Courier_Hermes_V1_GetPayloadRouteRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_GetPayloadRouteResponse {
    try await core.route(request)
  }
}
