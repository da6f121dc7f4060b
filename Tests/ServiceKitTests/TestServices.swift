import ContractRuntime
import Generated
import GRPCCore
import Synchronization

/// Iris' internal NotificationService: SendMail answers at once, or after `slowDuration` when the
/// idempotency key is "slow" (and reports that it started).
struct TestNotificationService: Courier_Iris_V1_NotificationService.SimpleServiceProtocol {
  let slowStarted: AsyncStream<Void>.Continuation?
  var slowDuration: Duration = .milliseconds(1_500)

  func sendMail(request: Courier_Iris_V1_SendMailRequest, context: ServerContext) async throws -> Courier_Iris_V1_SendMailResponse {
    if request.idempotencyKey == "slow" {
      slowStarted?.yield()
      try await Task.sleep(for: slowDuration)
    }
    var response = Courier_Iris_V1_SendMailResponse()
    response.deliveryID = "delivery-\(request.idempotencyKey)"
    response.status = .sent
    return response
  }

  func sendPushNotification(
    request: Courier_Iris_V1_SendPushNotificationRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_SendPushNotificationResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }

  func sendPushNotifications(
    request: Courier_Iris_V1_SendPushNotificationsRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_SendPushNotificationsResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }
}

/// Iris' PushSubscriptionService: only GetVapidPublicKey (REST-visible, `anyone`) does something.
struct TestPushSubscriptionService: Courier_Iris_V1_PushSubscriptionService.SimpleServiceProtocol {
  func getVapidPublicKey(
    request: Courier_Iris_V1_GetVapidPublicKeyRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_GetVapidPublicKeyResponse {
    var response = Courier_Iris_V1_GetVapidPublicKeyResponse()
    response.publicKey = "test-key"
    return response
  }

  func registerPushSubscription(
    request: Courier_Iris_V1_RegisterPushSubscriptionRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_RegisterPushSubscriptionResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }

  func removePushSubscription(
    request: Courier_Iris_V1_RemovePushSubscriptionRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_RemovePushSubscriptionResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }

  func listPushSubscriptions(
    request: Courier_Iris_V1_ListPushSubscriptionsRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_ListPushSubscriptionsResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }
}

/// Iris' LiveNotificationService: streams three notifications whose title is the caller's user id
/// and whose body is the request id, both read from `CallContext.current` inside the response body.
struct TestLiveNotificationService: Courier_Iris_V1_LiveNotificationService.SimpleServiceProtocol {
  func watchNotifications(
    request: Courier_Iris_V1_WatchNotificationsRequest,
    response: RPCWriter<Courier_Iris_V1_WatchNotificationsResponse>,
    context: ServerContext
  ) async throws {
    for index in 0..<3 {
      try await Task.sleep(for: .milliseconds(10))
      var message = Courier_Iris_V1_WatchNotificationsResponse()
      message.notification.notificationID = String(index)
      message.notification.title = CallContext.current?.caller?.userID ?? "<no caller>"
      message.notification.body = CallContext.current?.requestID ?? "<no context>"
      try await response.write(message)
    }
  }
}

/// Iris' DeliveryLogService (every RPC needs `admin`): ListDeliveries answers an empty page.
struct TestDeliveryLogService: Courier_Iris_V1_DeliveryLogService.SimpleServiceProtocol {
  func listDeliveries(
    request: Courier_Iris_V1_ListDeliveriesRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_ListDeliveriesResponse {
    Courier_Iris_V1_ListDeliveriesResponse()
  }

  func listMailDrop(
    request: Courier_Iris_V1_ListMailDropRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_ListMailDropResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }

  func getMailDropMessage(
    request: Courier_Iris_V1_GetMailDropMessageRequest,
    context: ServerContext
  ) async throws -> Courier_Iris_V1_GetMailDropMessageResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }
}

/// Asgardian's IdentityService with a fixed answer per token; counts IsAuthenticated calls.
final class TestIdentityService: Courier_Asgardian_V1_IdentityService.SimpleServiceProtocol {
  let calls = Atomic<Int>(0)

  func isAuthenticated(
    request: Courier_Asgardian_V1_IsAuthenticatedRequest,
    context: ServerContext
  ) async throws -> Courier_Asgardian_V1_IsAuthenticatedResponse {
    calls.add(1, ordering: .relaxed)
    var response = Courier_Asgardian_V1_IsAuthenticatedResponse()
    switch request.accessToken {
    case "admin-token":
      response.authenticated = true
      response.principal.userID = "admin-1"
      response.principal.roles = [.user, .admin]
    case "user-token":
      response.authenticated = true
      response.principal.userID = "user-1"
      response.principal.roles = [.user]
    case "expired-token":
      response.authenticated = false
      response.rejection = .expired
    case "unauthenticated-token":
      throw RPCError(code: .unauthenticated, message: "no")
    default:
      throw RPCError(code: .internalError, message: "identity store down")
    }
    return response
  }

  func getUserData(
    request: Courier_Asgardian_V1_GetUserDataRequest,
    context: ServerContext
  ) async throws -> Courier_Asgardian_V1_GetUserDataResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }

  func getUserLoginTokenData(
    request: Courier_Asgardian_V1_GetUserLoginTokenDataRequest,
    context: ServerContext
  ) async throws -> Courier_Asgardian_V1_GetUserLoginTokenDataResponse {
    throw RPCError(code: .unimplemented, message: "not in this test")
  }
}
