package import ContractRuntime
import Foundation
import Generated
import GRPCCore
import SwiftProtobuf
import Synchronization

/// The in-memory state behind the sample services: payloads, their history, deliverers and each
/// user's subscriptions, plus the watchers of live updates. It stands in for Hermes' Postgres schema
/// so that the gateway can be tested against real generated protocols without a database.
package final class SampleStore: Sendable {
  struct State {
    var payloads: [String: Courier_Hermes_V1_DeliveryPayload] = [:]
    var order: [String] = []
    var history: [String: [Courier_Hermes_V1_DeliveryPayloadStatusChange]] = [:]
    var byTrackingCode: [String: String] = [:]
    var byRequestID: [String: String] = [:]
    var deliverers: [String: Courier_Hermes_V1_Deliverer] = [:]
    /// Phones by device id.
    var devices: [String: Courier_Hermes_V1_DelivererDevice] = [:]
    /// user id -> tracking code -> subscription
    var subscriptions: [String: [String: Courier_Hermes_V1_PayloadSubscription]] = [:]
    var watchers: [UUID: AsyncStream<Courier_Hermes_V1_DeliveryPayload>.Continuation] = [:]
    var clock: Int64 = 1_800_000_000
    var codeCounter: UInt64 = 0
  }

  let state = Mutex(State())

  package init() {}

  /// Fixed tracking codes the tests rely on.
  package static let registeredCode = "7K3M9QX2T4VA"
  package static let inTransitCode = "AAAABBBBCCCC"
  package static let deliveredCode = "DDDDEEEEFFFF"

  /// A store with three payloads (REGISTERED, IN_TRANSIT with a position, DELIVERED) and one deliverer.
  package static func seeded() -> SampleStore {
    let store = SampleStore()
    store.state.withLock { state in
      var deliverer = Courier_Hermes_V1_Deliverer()
      deliverer.delivererID = "5f0c6f8e-2b9a-4c1e-9a53-1d2e3f4a5b6c"
      deliverer.userID = "0b4a7c1d-8e2f-4a3b-9c5d-6e7f8a9b0c1d"
      deliverer.displayName = "Dana"
      deliverer.createdAt = Self.timestamp(&state)
      state.deliverers[deliverer.delivererID] = deliverer
      let seeds: [(String, Courier_Hermes_V1_DeliveryPayloadStatus, String)] = [
        (registeredCode, .registered, "11111111-1111-4111-8111-111111111111"),
        (inTransitCode, .inTransit, "22222222-2222-4222-8222-222222222222"),
        (deliveredCode, .delivered, "33333333-3333-4333-8333-333333333333"),
      ]
      for (code, status, id) in seeds {
        var payload = Courier_Hermes_V1_DeliveryPayload()
        payload.deliveryPayloadID = id
        payload.trackingCode = code
        payload.title = "Parcel \(code)"
        payload.recipientUserID = SampleTokens.user.userID
        payload.status = status
        payload.createdAt = Self.timestamp(&state)
        payload.updatedAt = payload.createdAt
        if status != .registered { payload.delivererID = deliverer.delivererID }
        if status == .inTransit {
          var location = Courier_Common_V1_Location()
          location.point.latitude = 52.52
          location.point.longitude = 13.405
          location.recordedAt = payload.createdAt
          payload.lastLocation = location
        }
        Self.insert(payload, into: &state, by: deliverer.userID)
      }
    }
    return store
  }

  static func insert(_ payload: Courier_Hermes_V1_DeliveryPayload, into state: inout State, by userID: String) {
    state.payloads[payload.deliveryPayloadID] = payload
    state.order.append(payload.deliveryPayloadID)
    state.byTrackingCode[payload.trackingCode] = payload.deliveryPayloadID
    var change = Courier_Hermes_V1_DeliveryPayloadStatusChange()
    change.status = .registered
    change.changedAt = payload.createdAt
    change.changedByUserID = userID
    state.history[payload.deliveryPayloadID] = [change]
  }

  /// A strictly increasing fake clock, so that answers are deterministic.
  static func timestamp(_ state: inout State) -> Google_Protobuf_Timestamp {
    state.clock += 1
    return Google_Protobuf_Timestamp(seconds: state.clock, nanos: 0)
  }

  /// Tells every watcher that a payload changed.
  func publish(_ payload: Courier_Hermes_V1_DeliveryPayload) {
    let watchers = state.withLock { Array($0.watchers.values) }
    for watcher in watchers { watcher.yield(payload) }
  }

  /// Changes of any payload from now on, until the returned stream is dropped.
  func changes() -> AsyncStream<Courier_Hermes_V1_DeliveryPayload> {
    let (stream, continuation) = AsyncStream.makeStream(
      of: Courier_Hermes_V1_DeliveryPayload.self,
      bufferingPolicy: .bufferingNewest(1_000)
    )
    let id = UUID()
    state.withLock { $0.watchers[id] = continuation }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
    }
    return stream
  }

  // MARK: Validation shared by both services

  static func caller() throws -> Caller {
    guard let caller = CallContext.current?.caller else {
      throw RPCError(code: .unauthenticated, message: "no valid access token")
    }
    return caller
  }

  static let crockford = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

  /// The canonical (uppercase) form of a tracking code, or INVALID_ARGUMENT.
  static func trackingCode(_ text: String, field: String = "payload_tracking_code") throws -> String {
    let upper = text.uppercased()
    guard upper.count == 12, upper.allSatisfy({ crockford.contains($0) }) else {
      throw RPCError(code: .invalidArgument, message: "\(field) must be 12 characters of Crockford's base32 alphabet")
    }
    return upper
  }

  static func uuid(_ text: String, field: String) throws -> String {
    guard let uuid = UUID(uuidString: text), uuid.uuidString.lowercased() == text else {
      throw RPCError(code: .invalidArgument, message: "\(field) must be a UUID in lowercase canonical form")
    }
    return text
  }

  static func length(_ text: String, field: String, in range: ClosedRange<Int>) throws {
    guard range.contains(text.count) else {
      throw RPCError(code: .invalidArgument, message: "\(field) must be \(range.lowerBound) to \(range.upperBound) characters")
    }
  }

  /// Offset paging with tokens bound to the filters that made them.
  static func page(
    _ request: Courier_Common_V1_PageRequest,
    total: Int,
    filterKey: String
  ) throws -> (range: Range<Int>, info: Courier_Common_V1_PageInfo) {
    let size = request.pageSize == 0 ? 50 : Int(request.pageSize)
    guard (1...500).contains(size) else {
      throw RPCError(code: .invalidArgument, message: "page.page_size must be 0 to 500")
    }
    var offset = 0
    if !request.pageToken.isEmpty {
      let parts = request.pageToken.split(separator: ":", maxSplits: 1).map(String.init)
      guard parts.count == 2, parts[0] == filterKey, let value = Int(parts[1]), value >= 0 else {
        throw RPCError(code: .invalidArgument, message: "page.page_token was not produced by this list with these filters")
      }
      offset = value
    }
    let start = min(offset, total)
    let end = min(start + size, total)
    var info = Courier_Common_V1_PageInfo()
    info.totalSize = Int64(total)
    if end < total { info.nextPageToken = "\(filterKey):\(end)" }
    return (start..<end, info)
  }
}

/// The bearer tokens the sample's `StaticTokenAuthenticator` knows.
package enum SampleTokens {
  package static let user = Caller(userID: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", roles: ["user"])
  package static let admin = Caller(userID: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", roles: ["admin", "user"])
  package static let deliverer = Caller(userID: "0b4a7c1d-8e2f-4a3b-9c5d-6e7f8a9b0c1d", roles: ["deliverer"])

  /// token -> caller
  package static let table: [String: Caller] = [
    "user-token": user,
    "admin-token": admin,
    "deliverer-token": deliverer,
  ]
}
