import ContractRuntime
import Foundation
package import Generated
import GRPCCore
import Postgres
import SwiftProtobuf

extension HermesCore {
  /// How a watch ends when this process drains: the client reconnects, to another process.
  static let shuttingDown = RPCError(code: .unavailable, message: "the server is shutting down; reconnect")

  /// Streams the caller's followed payloads: their current state, then every change, until the
  /// client goes away (TrackingService.WatchPayloadPositions).
  package func watchPayloads(
    _ request: Courier_Hermes_V1_WatchPayloadPositionsRequest,
    write: (Courier_Hermes_V1_WatchPayloadPositionsResponse) async throws -> Void
  ) async throws {
    let caller = try requireCaller()
    let userID = try userID(of: caller)
    guard request.payloadTrackingCodes.count <= 100 else {
      throw Validation.invalid("payload_tracking_codes", "has \(request.payloadTrackingCodes.count) entries; at most 100")
    }
    var wanted: Set<String> = []
    for code in request.payloadTrackingCodes {
      wanted.insert(try Validation.trackingCode(code, field: "payload_tracking_codes"))
    }
    let followed = Set(try await rpc { try await subscriptions(of: userID) }.map(\.payloadTrackingCode))
    if let missing = wanted.subtracting(followed).sorted().first {
      throw RPCError(code: .notFound, message: "you do not follow payload \(missing)")
    }
    let codes = wanted.isEmpty ? followed : wanted
    guard let (feedID, feed) = hub.openPayloadFeed(
      user: caller.userID, codes: codes, limit: configuration.maxWatchStreamsPerUser, buffer: configuration.payloadWatchBuffer)
    else {
      throw RPCError(
        code: .resourceExhausted, message: "you already have \(configuration.maxWatchStreamsPerUser) open streams; close one")
    }
    defer { hub.close(feedID, user: caller.userID) }
    let codeList = "{" + codes.sorted().joined(separator: ",") + "}"
    let current = try await rpc {
      try await pool.query("SELECT * FROM hermes.payloads WHERE tracking_code = ANY(\(codeList)::text[]) ORDER BY tracking_code")
        .map(PayloadRow.init)
    }
    for payload in current { try await write(payload.update) }
    for await update in feed.stream { try await write(update) }
    if hub.isShuttingDown { throw Self.shuttingDown }
    if feed.overflowed {
      throw RPCError(code: .resourceExhausted, message: "you read so slowly that \(configuration.payloadWatchBuffer) updates were waiting; reconnect")
    }
  }

  /// Streams deliverer positions: the last known ones, then each accepted fix
  /// (DeliveryAdminService.WatchDelivererPositions).
  package func watchDeliverers(
    _ request: Courier_Hermes_V1_WatchDelivererPositionsRequest,
    write: (Courier_Hermes_V1_WatchDelivererPositionsResponse) async throws -> Void
  ) async throws {
    _ = try requireRole("admin")
    guard request.delivererIds.count <= 500 else {
      throw Validation.invalid("deliverer_ids", "has \(request.delivererIds.count) entries; at most 500")
    }
    var ids: Set<UUID> = []
    for text in request.delivererIds { ids.insert(try Validation.uuid(text, field: "deliverer_ids")) }
    let idList = "{" + ids.map(\.text).sorted().joined(separator: ",") + "}"
    let rows = try await rpc {
      try await pool.query(
        """
        SELECT * FROM hermes.deliverer_rows
        WHERE \(ids.isEmpty) OR id = ANY(\(idList)::uuid[]) ORDER BY display_name, id
        """
      ).map(DelivererRow.init)
    }
    if let missing = ids.subtracting(rows.map(\.id)).map(\.text).sorted().first {
      throw RPCError(code: .notFound, message: "no deliverer has id \(missing)")
    }
    let (feedID, feed) = hub.openDelivererFeed(ids: Set(ids.map(\.text)), buffer: configuration.delivererWatchBuffer)
    defer { hub.close(feedID) }
    for deliverer in rows {
      guard let location = deliverer.location, let seen = deliverer.lastSeenAt else { continue }
      var position = Courier_Hermes_V1_WatchDelivererPositionsResponse()
      position.delivererID = deliverer.id.text
      position.displayName = deliverer.displayName
      position.location = location
      position.receivedAt = Google_Protobuf_Timestamp(microsecondsOf: seen)
      try await write(position)
    }
    for await position in feed.stream { try await write(position) }
    if hub.isShuttingDown { throw Self.shuttingDown }
    if feed.overflowed {
      throw RPCError(code: .resourceExhausted, message: "you read so slowly that \(configuration.delivererWatchBuffer) positions were waiting; reconnect")
    }
  }

  /// Checks and keeps each fix of a ReportLocation stream; a bad fix is counted and skipped.
  ///
  /// One task reads the stream while another keeps what it read: every fix that arrived while the
  /// last transaction committed goes into the next one (at most `maxFixBatch`), so a device that
  /// uploads a queue of fixes costs one commit per batch rather than one per fix, and a device
  /// sending one fix at a time still has it kept at once. The batches of all streams share
  /// transactions through ``FixIntake``.
  package func reportStream<Fixes: AsyncSequence & Sendable>(
    _ fixes: Fixes
  ) async throws -> Courier_Hermes_V1_ReportLocationResponse where Fixes.Element == Courier_Common_V1_Location? {
    let deliverer = try await requireDeliverer()
    let handOver = BatchHandOver<Courier_Common_V1_Location?>(capacity: configuration.maxFixBatch)
    return try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        do {
          for try await fix in fixes {
            guard await handOver.give(fix) else { return }
          }
          // A request stream can end without an error when the handler is cancelled; the fixes
          // after that point never arrived, so the call must not end as if it were complete.
          try Task.checkCancellation()
          handOver.finish()
        } catch {
          handOver.finish(throwing: error)
        }
      }
      var response = Courier_Hermes_V1_ReportLocationResponse()
      var index: Int64 = 0
      do {
        while let batch = try await handOver.take() {
          let request = FixRequest(delivererID: deliverer.id, locations: batch, headers: eventHeaders)
          for outcome in try await rpc({ try await intake.keep(request, in: self) }) {
            if let reason = outcome.rejection {
              response.rejectedCount += 1
              if response.rejections.count < 100 {
                var rejection = Courier_Hermes_V1_LocationFixRejection()
                rejection.index = index
                rejection.reason = reason
                response.rejections.append(rejection)
              }
            } else {
              response.acceptedCount += 1
            }
            index += 1
          }
        }
      } catch {
        handOver.close()
        group.cancelAll()
        throw error
      }
      try await group.waitForAll()
      try Task.checkCancellation()
      return response
    }
  }
}
