import Foundation
import Generated
import GRPCCore
import SwiftProtobuf
import WebPush

/// `courier.iris.v1.PushSubscriptionService`: browsers register here for web push.
struct PushSubscriptionService: Courier_Iris_V1_PushSubscriptionService.SimpleServiceProtocol {
  let store: PushSubscriptionStore
  /// The server's VAPID public key; nil when web push is not configured.
  let vapidPublicKey: String?

  private func requireWebPush() throws(RPCError) -> String {
    guard let vapidPublicKey else {
      throw RPCError(code: .failedPrecondition, message: "web push is not configured on this server (no VAPID key)")
    }
    return vapidPublicKey
  }

  func getVapidPublicKey(
    request: Courier_Iris_V1_GetVapidPublicKeyRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_GetVapidPublicKeyResponse {
    var response = Courier_Iris_V1_GetVapidPublicKeyResponse()
    response.publicKey = try requireWebPush()
    return response
  }

  func registerPushSubscription(
    request: Courier_Iris_V1_RegisterPushSubscriptionRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_RegisterPushSubscriptionResponse {
    let userID = try Check.callerID()
    _ = try requireWebPush()
    if request.endpoint.isEmpty { throw Check.invalid("endpoint is required") }
    do {
      try WebPushRequest.validateEndpoint(request.endpoint)
    } catch {
      throw Check.invalid("endpoint: \(error.description)")
    }
    guard request.hasKeys else { throw Check.invalid("keys is required: send keys.p256dh and keys.auth") }
    do {
      _ = try PushSubscriptionKeys(p256dh: request.keys.p256Dh, auth: request.keys.auth)
    } catch {
      throw Check.invalid(error.description)
    }
    var expiration: Date? = nil
    if request.hasExpirationTime {
      let date = request.expirationTime.date
      if date <= Date() { throw Check.invalid("expiration_time is in the past: the subscription has already expired") }
      expiration = date
    }
    let userAgent = String(request.userAgent.prefix(500))
    let stored: StoredPushSubscription
    do {
      stored = try await store.register(
        userID: userID, endpoint: request.endpoint, p256dh: request.keys.p256Dh, auth: request.keys.auth,
        userAgent: userAgent, expirationTime: expiration)
    } catch is PushSubscriptionStore.RegisterError {
      throw RPCError(
        code: .resourceExhausted,
        message: "you already have \(PushSubscriptionStore.limitPerUser) push subscriptions; remove one first")
    }
    var response = Courier_Iris_V1_RegisterPushSubscriptionResponse()
    response.subscription = stored.message
    return response
  }

  func removePushSubscription(
    request: Courier_Iris_V1_RemovePushSubscriptionRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_RemovePushSubscriptionResponse {
    let userID = try Check.callerID()
    let id = try Check.uuid(request.subscriptionID, field: "subscription_id")
    var response = Courier_Iris_V1_RemovePushSubscriptionResponse()
    response.removed = try await store.remove(id: id, userID: userID)
    return response
  }

  func listPushSubscriptions(
    request: Courier_Iris_V1_ListPushSubscriptionsRequest, context: ServerContext
  ) async throws -> Courier_Iris_V1_ListPushSubscriptionsResponse {
    let userID = try Check.callerID()
    var response = Courier_Iris_V1_ListPushSubscriptionsResponse()
    response.subscriptions = try await store.list(userID: userID).map(\.message)
    return response
  }
}

/// `courier.iris.v1.LiveNotificationService`: the caller's notifications while an app is open.
struct LiveNotificationService: Courier_Iris_V1_LiveNotificationService.SimpleServiceProtocol {
  let hub: LiveHub

  func watchNotifications(
    request: Courier_Iris_V1_WatchNotificationsRequest,
    response: RPCWriter<Courier_Iris_V1_WatchNotificationsResponse>,
    context: ServerContext
  ) async throws {
    let userID = try Check.callerID()
    let (id, stream) = try hub.open(userID: userID)
    defer { hub.close(userID: userID, id: id) }
    try await withTaskCancellationHandler {
      for try await notification in stream {
        var message = Courier_Iris_V1_WatchNotificationsResponse()
        message.notification = notification
        try await response.write(message)
      }
    } onCancel: {
      hub.close(userID: userID, id: id)
    }
  }
}
