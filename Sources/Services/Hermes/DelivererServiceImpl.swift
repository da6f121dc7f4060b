package import Generated
package import GRPCCore

/// DelivererService (role `deliverer`): position reports and the work list.
package struct DelivererServiceImpl: Courier_Hermes_V1_DelivererService.SimpleServiceProtocol {
  let core: HermesCore

  package init(core: HermesCore) {
    self.core = core
  }

  package func reportLocation(
    request: RPCAsyncSequence<Courier_Hermes_V1_ReportLocationRequest, any Error>, context: ServerContext
  ) async throws -> Courier_Hermes_V1_ReportLocationResponse {
    try await core.reportStream(request.map { $0.hasLocation ? $0.location : nil })
  }

  package func reportLocationFix(
    request: Courier_Hermes_V1_ReportLocationFixRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_ReportLocationFixResponse {
    let outcome = try await core.reportFix(request.hasLocation ? request.location : nil)
    var response = Courier_Hermes_V1_ReportLocationFixResponse()
    response.accepted = outcome.rejection == nil
    response.rejectionReason = outcome.rejection ?? .unspecified
    response.movedPayloadCount = Int32(outcome.movedPayloads)
    return response
  }

  package func listAssignedPayloads(
    request: Courier_Hermes_V1_ListAssignedPayloadsRequest, context: ServerContext
  ) async throws -> Courier_Hermes_V1_ListAssignedPayloadsResponse {
    var response = Courier_Hermes_V1_ListAssignedPayloadsResponse()
    response.payloads = try await core.assignedPayloads().map(\.message)
    return response
  }
}
