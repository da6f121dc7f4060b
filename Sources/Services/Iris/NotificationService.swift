import Foundation
import Generated
import GRPCCore
import Mail
import SwiftProtobuf
import ServiceKit
import WebPush

/// `courier.iris.v1.NotificationService`: mail and push for other Courier services (gRPC only).
struct NotificationService: Courier_Iris_V1_NotificationService.SimpleServiceProtocol {
  let sender: DeliverySender
  let templates: MailTemplates

  /// The largest text or HTML part Iris accepts for a mail, in bytes of UTF-8.
  static let maxMailPartBytes = 256 * 1024
  /// The push message JSON's limit: what RFC 8291 fits in one 4,096-byte record.
  static let maxPushPayloadBytes = 3993
  static let defaultTTL: Int32 = 86_400
  static let maxTTL: Int32 = 2_419_200

  func sendMail(
    request: Courier_Iris_V1_SendMailRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_SendMailResponse {
    let key = try Check.idempotencyKey(request.idempotencyKey)
    guard request.hasRecipient else { throw Check.invalid("recipient is required") }
    let recipient: MailAddress
    do {
      recipient = try MailAddress(address: request.recipient.address, name: request.recipient.name)
        .validated(field: "recipient")
    } catch {
      throw Check.invalid(error.description)
    }
    let userID = try Check.optionalUUID(request.userID, field: "user_id")

    var new = NewDelivery(channel: .mail, idempotencyKey: key, userID: userID, summary: "")
    new.recipientAddress = recipient.address
    new.recipientName = recipient.name
    switch request.source {
    case .template(let template):
      let rendered: RenderedTemplate
      do {
        rendered = try templates.render(
          template.name, variables: template.variables.map { (name: $0.name, value: $0.value) })
      } catch {
        throw Check.invalid("template: \(error.description)")
      }
      new.templateName = template.name
      new.summary = rendered.subject
      new.mailText = rendered.text
      new.mailHTML = rendered.html
    case .content(let content):
      try Check.length(content.subject, field: "content.subject", 1...200)
      try Check.oneLine(content.subject, field: "content.subject")
      if content.text.isEmpty { throw Check.invalid("content.text is required: every mail has a plain-text part") }
      new.summary = content.subject
      new.mailText = content.text
      new.mailHTML = content.html
    case nil:
      throw Check.invalid("set either template or content: the mail has nothing to say")
    }
    for (field, part) in [("text", new.mailText), ("html", new.mailHTML)] where part.utf8.count > Self.maxMailPartBytes {
      throw Check.invalid(
        "the mail's \(field) part is \(part.utf8.count) bytes; the most is \(Self.maxMailPartBytes)")
    }
    new.mailMessageID = "<\(UUID().text)@\(sender.from.address.split(separator: "@").last ?? "courier.localhost")>"

    let (record, duplicate) = try await sender.submit(new)
    var response = Courier_Iris_V1_SendMailResponse()
    response.deliveryID = record.id.text
    response.status = record.status
    response.duplicate = duplicate
    return response
  }

  func sendPushNotification(
    request: Courier_Iris_V1_SendPushNotificationRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_SendPushNotificationResponse {
    let push = try Self.pushDelivery(request)
    let (record, duplicate) = try await sender.submitPushes([push])[0]
    return Self.pushResponse(record, duplicate: duplicate)
  }

  /// The most requests of one SendPushNotifications call.
  static let maxBatchPushes = 500

  func sendPushNotifications(
    request: Courier_Iris_V1_SendPushNotificationsRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_SendPushNotificationsResponse {
    let count = request.requests.count
    if count == 0 { throw Check.invalid("requests is empty: send at least one push notification") }
    if count > Self.maxBatchPushes {
      throw Check.invalid("requests has \(count) push notifications; the most per call is \(Self.maxBatchPushes)")
    }
    var results = [Courier_Iris_V1_SendPushNotificationResult](repeating: .init(), count: count)
    var accepted: [(index: Int, push: (new: NewDelivery, id: UUID))] = []
    for (index, item) in request.requests.enumerated() {
      do {
        accepted.append((index, try Self.pushDelivery(item)))
      } catch {
        var refusal = Courier_Iris_V1_PushNotificationError()
        refusal.code = Self.codeName(error.code)
        refusal.message = "requests[\(index)]: \(error.message)"
        results[index].error = refusal
      }
    }
    if !accepted.isEmpty {
      let stored = try await sender.submitPushes(accepted.map(\.push))
      for ((index, _), (record, duplicate)) in zip(accepted, stored) {
        results[index].delivery = Self.pushResponse(record, duplicate: duplicate)
      }
    }
    var response = Courier_Iris_V1_SendPushNotificationsResponse()
    response.results = results
    return response
  }

  /// A push request checked and turned into its delivery row, with the id it will have (also the
  /// message's `notificationId`).
  static func pushDelivery(
    _ request: Courier_Iris_V1_SendPushNotificationRequest
  ) throws(RPCError) -> (new: NewDelivery, id: UUID) {
    let key = try Check.idempotencyKey(request.idempotencyKey)
    let userID = try Check.uuid(request.userID, field: "user_id")
    try Check.length(request.title, field: "title", 1...120)
    try Check.length(request.body, field: "body", 0...1000)
    try Check.length(request.tag, field: "tag", 0...64)
    try Check.length(request.url, field: "url", 0...2048)
    if !request.url.isEmpty && !request.url.hasPrefix("/") {
      guard let url = URL(string: request.url), url.scheme == "https", url.host != nil else {
        throw Check.invalid("url must be empty, a path starting with /, or an absolute https URL")
      }
    }
    if request.url.hasPrefix("//") { throw Check.invalid("url must be a path starting with a single /") }
    let ttl = request.hasTtlSeconds ? request.ttlSeconds.value : Self.defaultTTL
    guard (0...Self.maxTTL).contains(ttl) else {
      throw Check.invalid("ttl_seconds must be 0 to \(Self.maxTTL) (28 days), not \(ttl)")
    }

    let id = UUID()
    let payload = Self.payloadJSON(id: id, request: request)
    guard payload.utf8.count <= Self.maxPushPayloadBytes else {
      throw Check.invalid(
        "the push message would be \(payload.utf8.count) bytes of JSON; the most is \(Self.maxPushPayloadBytes): shorten body or url")
    }

    var new = NewDelivery(channel: .push, idempotencyKey: key, userID: userID, summary: request.title)
    new.pushPayload = payload
    new.pushBody = request.body
    new.pushURL = request.url
    new.pushTag = request.tag
    new.pushTTL = ttl
    new.pushUrgency = Int32(request.urgency == .unspecified ? Courier_Iris_V1_PushUrgency.normal.rawValue : request.urgency.rawValue)
    return (new, id)
  }

  static func pushResponse(_ record: DeliveryRecord, duplicate: Bool) -> Courier_Iris_V1_SendPushNotificationResponse {
    var response = Courier_Iris_V1_SendPushNotificationResponse()
    response.deliveryID = record.id.text
    response.status = record.status
    response.pushedSubscriptionCount = record.pushedSubscriptionCount
    response.subscriptionCount = record.subscriptionCount
    response.duplicate = duplicate
    return response
  }

  /// The status code's name as gRPC spells it, e.g. `INVALID_ARGUMENT`.
  static func codeName(_ code: RPCError.Code) -> String {
    let camel = String(describing: code)
    var name = ""
    for character in camel {
      if character.isUppercase { name += "_" }
      name += character.uppercased()
    }
    return name
  }

  /// `{"notificationId","title","body","url","tag"}`, the object the service worker shows.
  static func payloadJSON(id: UUID, request: Courier_Iris_V1_SendPushNotificationRequest) -> String {
    var json = JSONWriter()
    json.bytes.reserveCapacity(96 + request.title.utf8.count + request.body.utf8.count + request.url.utf8.count)
    json.open()
    json.field("notificationId", string: id.text)
    json.field("title", string: request.title)
    json.field("body", string: request.body)
    json.field("url", string: request.url)
    json.field("tag", string: request.tag)
    json.close()
    return json.text
  }
}
