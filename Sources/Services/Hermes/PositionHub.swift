package import Foundation
package import Generated
package import Logging
package import Postgres
package import SwiftProtobuf
import Synchronization

/// The live position streams of one Hermes process, fed through Postgres NOTIFY so that a change
/// made by any Hermes process reaches the watchers of every process.
///
/// Writers call `publish(_:in:)` in the transaction of the
/// change (the notification goes out at commit; a rolled-back change tells nobody); ``run(pool:)``
/// listens on the two channels and fans each message out to this process's open streams. A stream
/// whose reader falls `buffer` messages behind is ended as overflowed.
package final class PositionHub: Sendable {
  /// Channel of payload updates: a `WatchPayloadPositionsResponse` (``notificationText(_:)``).
  package static let payloadChannel = "hermes_payload_positions"
  /// Channel of deliverer positions: a `WatchDelivererPositionsResponse` (``notificationText(_:)``).
  package static let delivererChannel = "hermes_deliverer_positions"

  /// What a notification carries: the message's protobuf bytes in base64. NOTIFY payloads are
  /// text; every fix sends one and every Hermes process reads it, and the binary form costs a
  /// fraction of proto JSON to write and to read.
  package static func notificationText(_ message: some SwiftProtobuf.Message) throws -> String {
    let bytes: Data = try message.serializedBytes()
    return bytes.base64EncodedString()
  }

  /// Reads what ``notificationText(_:)`` wrote.
  package static func message<M: SwiftProtobuf.Message>(_ type: M.Type, fromNotification text: String) throws -> M {
    guard let bytes = Data(base64Encoded: text) else {
      throw PositionHubError.unreadableNotification(String(text.prefix(80)))
    }
    return try M(serializedBytes: bytes)
  }

  /// One open stream's feed.
  package final class Feed<Element: Sendable>: Sendable {
    package let stream: AsyncStream<Element>
    let continuation: AsyncStream<Element>.Continuation
    let filter: @Sendable (Element) -> Bool
    let overflow = Atomic(false)

    init(buffer: Int, filter: @escaping @Sendable (Element) -> Bool) {
      (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingOldest(buffer))
      self.filter = filter
    }

    /// True when the reader fell so far behind that messages were dropped; the stream has ended.
    package var overflowed: Bool { overflow.load(ordering: .acquiring) }

    func offer(_ element: Element) {
      guard filter(element) else { return }
      if case .dropped = continuation.yield(element) {
        overflow.store(true, ordering: .releasing)
        continuation.finish()
      }
    }
  }

  private struct State {
    var payloadFeeds: [UUID: Feed<Courier_Hermes_V1_WatchPayloadPositionsResponse>] = [:]
    var delivererFeeds: [UUID: Feed<Courier_Hermes_V1_WatchDelivererPositionsResponse>] = [:]
    var streamsPerUser: [String: Int] = [:]
    var closed = false
  }

  private let state = Mutex(State())
  private let draining = Atomic(false)
  private let logger: Logger

  package init(logger: Logger = Logger(label: "courier.hermes.positions")) {
    self.logger = logger
  }

  // MARK: Publishing

  /// Sends a payload update to every process's watchers when `transaction` commits.
  package static func publish(_ update: Courier_Hermes_V1_WatchPayloadPositionsResponse, in transaction: PostgresTransaction) async throws {
    try await transaction.notify(channel: payloadChannel, payload: try notificationText(update))
  }

  /// Sends deliverer positions to every process's watchers, in order, when `transaction` commits
  /// (one statement for all of them).
  package static func publish(
    _ positions: [Courier_Hermes_V1_WatchDelivererPositionsResponse], in transaction: PostgresTransaction
  ) throws {
    try transaction.notify(channel: delivererChannel, payloads: positions.map { try notificationText($0) })
  }

  // MARK: Feeding

  /// Listens on both channels and feeds this process's streams until cancelled. Calls
  /// `onListening` once both LISTENs are in effect.
  package func run(pool: PostgresPool, onListening: @Sendable () async -> Void = {}) async throws {
    let payloads = try await pool.listen(to: Self.payloadChannel)
    let deliverers = try await pool.listen(to: Self.delivererChannel)
    await onListening()
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        for await notification in payloads {
          do {
            self.deliver(try Self.message(Courier_Hermes_V1_WatchPayloadPositionsResponse.self, fromNotification: notification.payload))
          } catch {
            self.logger.warning("unreadable payload position", metadata: ["error": "\(error)"])
          }
        }
      }
      group.addTask {
        for await notification in deliverers {
          do {
            self.deliver(try Self.message(Courier_Hermes_V1_WatchDelivererPositionsResponse.self, fromNotification: notification.payload))
          } catch {
            self.logger.warning("unreadable deliverer position", metadata: ["error": "\(error)"])
          }
        }
      }
    }
  }

  /// Hands a payload update to the matching streams of this process.
  package func deliver(_ update: Courier_Hermes_V1_WatchPayloadPositionsResponse) {
    for feed in state.withLock({ Array($0.payloadFeeds.values) }) { feed.offer(update) }
  }

  /// Hands a deliverer position to the matching streams of this process.
  package func deliver(_ position: Courier_Hermes_V1_WatchDelivererPositionsResponse) {
    for feed in state.withLock({ Array($0.delivererFeeds.values) }) { feed.offer(position) }
  }

  // MARK: Streams

  /// Opens a feed of the payloads with `codes` for `user`; nil when the user already has `limit`
  /// open streams. Close it with ``close(_:user:)``.
  package func openPayloadFeed(
    user: String, codes: Set<String>, limit: Int, buffer: Int
  ) -> (UUID, Feed<Courier_Hermes_V1_WatchPayloadPositionsResponse>)? {
    state.withLock { state in
      guard state.streamsPerUser[user, default: 0] < limit else { return nil }
      state.streamsPerUser[user, default: 0] += 1
      let feed = Feed<Courier_Hermes_V1_WatchPayloadPositionsResponse>(buffer: buffer) { codes.contains($0.payloadTrackingCode) }
      let id = UUID()
      state.payloadFeeds[id] = feed
      if state.closed { feed.continuation.finish() }
      return (id, feed)
    }
  }

  /// Opens a feed of deliverer positions (all deliverers when `ids` is empty).
  package func openDelivererFeed(
    ids: Set<String>, buffer: Int
  ) -> (UUID, Feed<Courier_Hermes_V1_WatchDelivererPositionsResponse>) {
    state.withLock { state in
      let feed = Feed<Courier_Hermes_V1_WatchDelivererPositionsResponse>(buffer: buffer) {
        ids.isEmpty || ids.contains($0.delivererID)
      }
      let id = UUID()
      state.delivererFeeds[id] = feed
      if state.closed { feed.continuation.finish() }
      return (id, feed)
    }
  }

  /// True once ``shutDown()`` ran: a stream whose feed ended then ends with UNAVAILABLE.
  package var isShuttingDown: Bool { draining.load(ordering: .acquiring) }

  /// Ends every open feed, so that watchers learn at once that this process is going and reconnect
  /// to another one, instead of waiting out the shutdown grace. Called when the server starts
  /// draining; feeds opened afterwards end at once.
  package func shutDown() {
    draining.store(true, ordering: .releasing)
    let continuations = state.withLock { state in
      state.closed = true
      return state.payloadFeeds.values.map { $0.continuation.finish }
        + state.delivererFeeds.values.map { $0.continuation.finish }
    }
    for finish in continuations { finish() }
  }

  /// Closes a feed opened by either `open` call.
  package func close(_ id: UUID, user: String? = nil) {
    state.withLock { state in
      if let feed = state.payloadFeeds.removeValue(forKey: id) {
        feed.continuation.finish()
        if let user {
          state.streamsPerUser[user, default: 1] -= 1
          if state.streamsPerUser[user] == 0 { state.streamsPerUser[user] = nil }
        }
      }
      state.delivererFeeds.removeValue(forKey: id)?.continuation.finish()
    }
  }
}

/// A notification on a position channel that is not base64 (written by something other than
/// ``PositionHub``).
enum PositionHubError: Error, CustomStringConvertible {
  case unreadableNotification(String)

  var description: String {
    switch self {
    case .unreadableNotification(let start): "a position notification is not base64: \(start)"
    }
  }
}
