import ContractRuntime
import Foundation
package import Gateway
import Generated
import SwiftProtobuf

/// Hermes' endpoint for phones that speak the OsmAnd protocol (Traccar Client, OsmAnd's online
/// tracking): `GET` or `POST` on ``path``, the report as query or form parameters or as Traccar
/// Client's JSON (``OsmAndReport``). The device identifier is the credential: one registered with
/// DeliveryAdminService.RegisterDelivererDevice and not revoked.
///
/// Answers, always JSON:
/// - 200 when the report was read and its phone is known: `{"accepted": true, "movedPayloadCount": n}`
///   for a fix kept like one from ReportLocation, or `{"accepted": false, "rejectionReason": ...}`
///   for one the fix checks refused. Phones resend a report until they get a 200 and send nothing
///   newer meanwhile, so a fix that can never pass (a resent one, a GPS jump) must not block them.
/// - 400 `INVALID_ARGUMENT` naming the field for a report that cannot be read (no id, coordinates
///   missing or out of range, an unreadable time or number, a body that is neither form nor JSON).
/// - 403 `PERMISSION_DENIED` for an unknown or revoked identifier: one answer for both.
/// - 405 for other methods; 503 / 500 as for every call when the database fails.
package struct OsmAndEndpoint: Sendable {
  /// Where phones report; nginx and the Kubernetes Ingress route it to Hermes.
  package static let path = "/tracking/osmand"

  let core: HermesCore

  package init(core: HermesCore) {
    self.core = core
  }

  package func respond(to request: GatewayRequest) async -> GatewayResponse {
    guard request.method == "GET" || request.method == "POST" else {
      var response = Self.error(ErrorBody(code: "UNIMPLEMENTED", message: "\(request.method) is not allowed here; use GET or POST", status: 405))
      response.headers.append(("Allow", "GET, POST"))
      return response
    }
    let query = request.target.firstIndex(of: "?").map { String(request.target[request.target.index(after: $0)...]) } ?? ""
    guard let parameters = OsmAndReport.formParameters(query) else {
      return Self.error(.badRequest(RESTBindingError(field: "query", reason: "has a malformed percent-encoding")))
    }
    let report: OsmAndReport
    do {
      report = try OsmAndReport.parse(
        query: parameters, contentType: request.header("content-type"), body: request.body, now: core.now())
    } catch {
      return Self.error(.badRequest(RESTBindingError(field: error.field, reason: error.reason)))
    }
    let outcome: DeviceReportOutcome
    do {
      outcome = try await core.reportFromDevice(report)
    } catch {
      return Self.error(ErrorBody.from(core.mapped(error), requestID: CallContext.current?.requestID ?? "-"))
    }
    switch outcome {
    case .refused:
      return Self.error(ErrorBody(code: "PERMISSION_DENIED", message: "this device identifier is not registered, or it was revoked"))
    case .checked(let fix):
      var answer = Courier_Hermes_V1_ReportLocationFixResponse()
      answer.accepted = fix.rejection == nil
      answer.rejectionReason = fix.rejection ?? .unspecified
      answer.movedPayloadCount = Int32(fix.movedPayloads)
      let body = (try? answer.jsonUTF8Bytes()) ?? Array("{}".utf8)
      return GatewayResponse(status: 200, headers: [("Content-Type", "application/json")], body: .bytes(body))
    }
  }

  static func error(_ body: ErrorBody) -> GatewayResponse {
    GatewayResponse(status: body.status, headers: [("Content-Type", "application/json")], body: .bytes(body.json))
  }
}
