import ContractRuntime
import Generated
import Testing

@Suite("request messages from path, query and body")
struct TranscodingTests {
  typealias Admin = Courier_Hermes_V1_DeliveryAdminService_REST
  typealias Tracking = Courier_Hermes_V1_TrackingService_REST

  static func bindingError(_ body: () throws -> Void) -> RESTBindingError? {
    do {
      try body()
      return nil
    } catch let error as RESTBindingError {
      return error
    } catch {
      return nil
    }
  }

  @Test("dotted, enum and plain query parameters fill nested fields")
  func query() throws {
    let request = RESTRequest(query: [
      ("page.page_size", "20"), ("page.pageToken", "abc"), ("status", "DELIVERY_PAYLOAD_STATUS_IN_TRANSIT"),
      ("deliverer_id", "d-1"),
    ])
    let message = try request.message(Courier_Hermes_V1_ListDeliveryPayloadsRequest.self, spec: Admin.listDeliveryPayloads)
    #expect(message.page.pageSize == 20)
    #expect(message.page.pageToken == "abc")
    #expect(message.status == .inTransit)
    #expect(message.delivererID == "d-1")
  }

  @Test("an enum query value may be its number")
  func enumNumber() throws {
    let message = try RESTRequest(query: [("status", "4")])
      .message(Courier_Hermes_V1_ListDeliveryPayloadsRequest.self, spec: Admin.listDeliveryPayloads)
    #expect(message.status == .delivered)
  }

  @Test("a repeated field takes the parameter several times")
  func repeated() throws {
    let message = try RESTRequest(query: [("deliverer_ids", "a"), ("deliverer_ids", "b")])
      .message(Courier_Hermes_V1_WatchDelivererPositionsRequest.self, spec: Admin.watchDelivererPositions)
    #expect(message.delivererIds == ["a", "b"])
  }

  @Test(
    "bad query parameters are named",
    arguments: [
      ([("page.page_size", "ten")], "page.page_size", "not an integer"),
      ([("page.page_size", "99999999999")], "page.page_size", "out of range"),
      ([("status", "NOT_A_STATUS")], "status", "not a value of the enum"),
      ([("colour", "red")], "colour", "unknown query parameter"),
      ([("status", "1"), ("status", "2")], "status", "more than once"),
      ([("delivery_payload_id", "x")], "delivery_payload_id", "unknown query parameter"),
    ] as [([(String, String)], String, String)]
  )
  func badQuery(query: [(String, String)], field: String, reason: String) {
    let error = Self.bindingError {
      _ = try RESTRequest(query: query.map { (name: $0.0, value: $0.1) })
        .message(Courier_Hermes_V1_ListDeliveryPayloadsRequest.self, spec: Admin.listDeliveryPayloads)
    }
    #expect(error?.field == field)
    #expect(error?.reason.contains(reason) == true, "\(String(describing: error))")
  }

  @Test("the path variable wins over the same field in the body")
  func pathOverBody() throws {
    let request = RESTRequest(
      pathValues: ["delivery_payload_id": "from-path"],
      body: Array(#"{"deliveryPayloadId":"from-body","status":"DELIVERY_PAYLOAD_STATUS_FAILED","note":"n"}"#.utf8)
    )
    let message = try request.message(Courier_Hermes_V1_UpdateDeliveryPayloadStatusRequest.self, spec: Admin.updateDeliveryPayloadStatus)
    #expect(message.deliveryPayloadID == "from-path")
    #expect(message.status == .failed)
    #expect(message.note == "n")
  }

  @Test("proto field names are accepted in the body as well as JSON names")
  func protoNames() throws {
    let request = RESTRequest(
      pathValues: ["delivery_payload_id": "p"],
      body: Array(#"{"deliverer_id":"d"}"#.utf8)
    )
    let message = try request.message(Courier_Hermes_V1_AssignDeliveryPayloadRequest.self, spec: Admin.assignDeliveryPayload)
    #expect(message.delivererID == "d")
  }

  @Test(
    "bad bodies are 400s that name the field",
    arguments: [
      (#"{"title": 5}"#, "title"),
      (#"{"title": "ok", "colour": "red"}"#, "colour"),
      (#"{"title": ["a"]}"#, "title"),
      (#"{"title": "#, ""),
      ("[1, 2]", ""),
      ("\"text\"", ""),
    ]
  )
  func badBody(body: String, field: String) {
    let error = Self.bindingError {
      _ = try RESTRequest(pathValues: ["payload_tracking_code": "7K3M9QX2T4VA"], body: Array(body.utf8))
        .message(Courier_Hermes_V1_CreatePayloadSubscriptionRequest.self, spec: Tracking.createPayloadSubscription)
    }
    #expect(error != nil, "\(body) must be rejected")
    #expect(error?.field == field, "\(String(describing: error))")
  }

  @Test("a nested wrong type names the top-level field")
  func nestedWrongType() {
    let error = Self.bindingError {
      _ = try RESTRequest(body: Array(#"{"userId":"u","displayName":"D","vehicle":{"kind":"SPACESHIP"}}"#.utf8))
        .message(Courier_Hermes_V1_RegisterDelivererRequest.self, spec: Admin.registerDeliverer)
    }
    #expect(error?.field == "vehicle")
  }

  @Test("a route without a body refuses one, and a missing path value is named")
  func noBody() {
    let withBody = Self.bindingError {
      _ = try RESTRequest(body: Array("{}".utf8))
        .message(Courier_Hermes_V1_GetAllPayloadSubscriptionsRequest.self, spec: Tracking.getAllPayloadSubscriptions)
    }
    #expect(withBody?.reason.contains("no request body") == true)
    let missing = Self.bindingError {
      _ = try RESTRequest().message(Courier_Hermes_V1_GetDeliveryPayloadRequest.self, spec: Admin.getDeliveryPayload)
    }
    #expect(missing?.field == "delivery_payload_id")
  }

  @Test("query values that need JSON escaping arrive intact")
  func escaping() throws {
    let text = "a\"b\\c\nd é"
    let message = try RESTRequest(query: [("page.page_token", text)])
      .message(Courier_Hermes_V1_ListDeliverersRequest.self, spec: Admin.listDeliverers)
    #expect(message.page.pageToken == text)
  }
}
