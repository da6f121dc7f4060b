import Foundation
package import Generated
package import GRPCCore
import Synchronization

/// One tracking notification for one subscriber, as Hermes hands it to Iris.
package struct TrackingNotice: Sendable, Hashable {
  /// `<event_id>:<user_id>`: Iris answers a repeated key with the earlier delivery.
  package var idempotencyKey: String
  package var userID: String
  package var address: String
  package var displayName: String
  /// The subscriber's own name for the payload.
  package var payloadTitle: String
  package var trackingCode: String
  package var status: Courier_Hermes_V1_DeliveryPayloadStatus
  /// The subscriber's tracking page.
  package var trackingURL: String
  /// What the notice tells.
  package var kind: Kind = .moved
  /// For `arriving`: when and how far, in words (``arrivalText(remainingSeconds:remainingMeters:)``).
  package var arrival: String = ""

  /// "in about 4 minutes, 1.2 km away", "in under a minute, 150 m away", or without a time (the
  /// deliverer stands still) "150 m away".
  package static func arrivalText(remainingSeconds: Double?, remainingMeters: Double) -> String {
    let distance = remainingMeters >= 1_000
      ? "\(String(format: "%.1f", remainingMeters / 1_000)) km away"
      : "\(Int(remainingMeters.rounded())) m away"
    guard let seconds = remainingSeconds else { return distance }
    let minutes = Int((seconds / 60).rounded())
    let when = minutes < 1 ? "in under a minute" : minutes == 1 ? "in about 1 minute" : "in about \(minutes) minutes"
    return "\(when), \(distance)"
  }

  /// What a notice tells. `moved` goes out on every position; the others once per subscriber and
  /// payload.
  package enum Kind: String, Sendable, Hashable {
    /// The payload has a new position.
    case moved
    /// The payload is about to arrive (near its destination, or due soon).
    case arriving
    /// The payload was delivered.
    case delivered
    /// The payload could not be delivered.
    case failed
  }

  /// The human name of the status, as mails and pushes say it.
  package var statusText: String {
    switch status {
    case .registered: "registered"
    case .pickedUp: "picked up"
    case .inTransit: "in transit"
    case .delivered: "delivered"
    case .failed: "failed"
    default: "unknown"
    }
  }

  /// What the notice says the payload's state is, in mails and push titles.
  package var headline: String {
    kind == .arriving ? "arriving soon" : statusText
  }

  /// The Iris push request. It replaces the payload's previous notification (tag `payload:<code>`),
  /// except "arriving soon", which stays next to it (tag `arriving:<code>`).
  package var pushRequest: Courier_Iris_V1_SendPushNotificationRequest {
    var request = Courier_Iris_V1_SendPushNotificationRequest()
    request.idempotencyKey = idempotencyKey
    request.userID = userID
    request.title = "\(payloadTitle): \(headline)"
    switch kind {
    case .moved: request.body = "Your delivery \(trackingCode) has moved."
    case .arriving: request.body = "Your delivery \(trackingCode) is about to arrive."
    case .delivered: request.body = "Your delivery \(trackingCode) was delivered."
    case .failed: request.body = "Your delivery \(trackingCode) could not be delivered."
    }
    request.url = Self.pushLink(trackingURL)
    request.tag = kind == .arriving ? "arriving:\(trackingCode)" : "payload:\(trackingCode)"
    return request
  }

  /// Push links must be https or a path on the app's own origin (Iris refuses others): an
  /// `http://` tracking page, as in the local stack, is sent as its path and query.
  static func pushLink(_ url: String) -> String {
    guard let components = URLComponents(string: url), components.scheme?.lowercased() != "https" else { return url }
    let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
    return path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
  }

  /// The Iris mail request: template `payload-arriving` for `arriving`, else `payload-update`.
  package var mailRequest: Courier_Iris_V1_SendMailRequest {
    var request = Courier_Iris_V1_SendMailRequest()
    request.idempotencyKey = idempotencyKey
    request.recipient.address = address
    request.recipient.name = displayName
    request.userID = userID
    var template = Courier_Iris_V1_MailTemplate()
    template.name = kind == .arriving ? "payload-arriving" : "payload-update"
    let variables = [
      ("display_name", displayName), ("payload_title", payloadTitle),
      kind == .arriving ? ("arrival", arrival) : ("status", headline),
      ("tracking_code", trackingCode), ("tracking_url", trackingURL),
    ]
    template.variables = variables.map { name, value in
      var variable = Courier_Iris_V1_TemplateVariable()
      variable.name = name
      variable.value = value
      return variable
    }
    request.template = template
    return request
  }
}

/// Sends tracking notifications. Production: ``IrisNotifier`` (Iris' NotificationService over
/// gRPC); unit tests use an in-process fake. Both calls must be safe to repeat with the same key.
package protocol Notifier: Sendable {
  /// Pushes to every browser the subscriber registered. Throws when Iris could not take it.
  func push(_ notice: TrackingNotice) async throws
  /// Mails the subscriber (template `payload-update`). Throws when Iris could not take it.
  func mail(_ notice: TrackingNotice) async throws
  /// Pushes several notices at once; throws when Iris could not take any one of them (those it
  /// took stay taken: a repeat with the same keys is answered from its log).
  func push(_ notices: [TrackingNotice]) async throws
}

extension Notifier {
  /// One call per notice.
  package func push(_ notices: [TrackingNotice]) async throws {
    for notice in notices { try await push(notice) }
  }
}

/// Iris refused a notice of a batch.
package struct NoticeRefused: Error, CustomStringConvertible {
  package var idempotencyKey: String
  package var code: String
  package var message: String

  package var description: String {
    "Iris refused the push \(idempotencyKey): \(code): \(message)"
  }
}

/// A ``Notifier`` that holds pushes back until ``flush()`` sends them in one batch; mails pass
/// straight through. One per batch transaction of the consumer.
package final class DeferredPushes: Notifier {
  private let notifier: any Notifier
  private let held = Mutex<[TrackingNotice]>([])

  package init(_ notifier: any Notifier) {
    self.notifier = notifier
  }

  package func push(_ notice: TrackingNotice) async throws {
    held.withLock { $0.append(notice) }
  }

  package func mail(_ notice: TrackingNotice) async throws {
    try await notifier.mail(notice)
  }

  /// Sends the held pushes in one batch.
  package func flush() async throws {
    let notices = held.withLock { held in
      defer { held.removeAll() }
      return held
    }
    if !notices.isEmpty { try await notifier.push(notices) }
  }
}

/// ``Notifier`` over Iris' generated NotificationService client.
package struct IrisNotifier<Transport: ClientTransport>: Notifier {
  private let client: Courier_Iris_V1_NotificationService.Client<Transport>
  private let timeout: Duration

  /// - Parameter timeout: the deadline of each call.
  package init(client: GRPCClient<Transport>, timeout: Duration = .seconds(10)) {
    self.client = Courier_Iris_V1_NotificationService.Client(wrapping: client)
    self.timeout = timeout
  }

  package func push(_ notice: TrackingNotice) async throws {
    _ = try await client.sendPushNotification(notice.pushRequest, options: options)
  }

  package func mail(_ notice: TrackingNotice) async throws {
    _ = try await client.sendMail(notice.mailRequest, options: options)
  }

  /// SendPushNotifications, 500 notices a call at most.
  package func push(_ notices: [TrackingNotice]) async throws {
    var start = 0
    while start < notices.count {
      let chunk = notices[start..<min(start + 500, notices.count)]
      start += chunk.count
      var request = Courier_Iris_V1_SendPushNotificationsRequest()
      request.requests = chunk.map(\.pushRequest)
      let response = try await client.sendPushNotifications(request, options: options)
      guard response.results.count == chunk.count else {
        throw RPCError(
          code: .internalError,
          message: "Iris answered \(response.results.count) results for \(chunk.count) push notifications")
      }
      for (notice, result) in zip(chunk, response.results) {
        if case .error(let refusal) = result.outcome {
          throw NoticeRefused(idempotencyKey: notice.idempotencyKey, code: refusal.code, message: refusal.message)
        }
      }
    }
  }

  private var options: CallOptions {
    var options = CallOptions.defaults
    options.timeout = timeout
    return options
  }
}
