import ContractRuntime
import CourierTestSupport
import Foundation
import Generated
import GRPCCore
@testable import Hermes
import Postgres
import Synchronization
import Testing

@Suite("Live positions through Postgres NOTIFY", .serialized, .sharedCluster)
struct LiveTests {
  @Test("a follower's stream gets the current state, then the handled position and a status change")
  func payloadWatch() async throws {
    try await Harness.with { h in
      let (payload, _, caller) = try await h.carriedPayload()
      let follower = try await h.subscribe(payload)
      let hub = try await listeningHub(h)
      defer { hub.cancel() }
      let seen = Collected<Courier_Hermes_V1_WatchPayloadPositionsResponse>()
      let watch = Task {
        try await h.call(as: follower) { try await h.core.watchPayloads(.init()) { seen.append($0) } }
      }
      defer { watch.cancel() }
      try await seen.wait(for: 1)
      #expect(seen.all.first?.payloadStatus == .pickedUp && seen.all.first?.hasLocation == false)
      let before = try await h.lastSeq()
      _ = try await h.report(h.location(meters: 5), as: caller)
      try await h.handle(type: Harness.moved, after: before)
      try await seen.wait(for: 2)
      #expect(seen.all.dropFirst().first?.location.point.latitude == h.location(meters: 5).point.latitude)
      try await h.setStatus(payload, .inTransit)
      try await seen.wait(for: 3)
      #expect(seen.all.last?.payloadStatus == .inTransit)
      #expect(seen.all.allSatisfy { $0.payloadTrackingCode == payload.trackingCode })
    }
  }

  @Test("watch errors: a code the caller does not follow, too many streams")
  func watchErrors() async throws {
    try await Harness.with(configuration: HermesConfiguration(maxWatchStreamsPerUser: 1)) { h in
      let payload = try await h.registerPayload()
      let other = try await h.registerPayload()
      let follower = try await h.subscribe(payload)
      var request = Courier_Hermes_V1_WatchPayloadPositionsRequest()
      request.payloadTrackingCodes = [other.trackingCode]
      await expectCode(.notFound) { try await h.call(as: follower) { try await h.core.watchPayloads(request) { _ in } } }
      request.payloadTrackingCodes = ["bad"]
      await expectCode(.invalidArgument) { try await h.call(as: follower) { try await h.core.watchPayloads(request) { _ in } } }
      let first = Collected<Courier_Hermes_V1_WatchPayloadPositionsResponse>()
      let open = Task { try await h.call(as: follower) { try await h.core.watchPayloads(.init()) { first.append($0) } } }
      defer { open.cancel() }
      try await first.wait(for: 1)
      await expectCode(.resourceExhausted) { try await h.call(as: follower) { try await h.core.watchPayloads(.init()) { _ in } } }
    }
  }

  @Test("the admin's map gets last known positions, then each accepted fix")
  func delivererWatch() async throws {
    try await Harness.with { h in
      let (deliverer, caller) = try await h.registerDeliverer()
      _ = try await h.report(h.location(secondsAgo: 30), as: caller)
      let hub = try await listeningHub(h)
      defer { hub.cancel() }
      let seen = Collected<Courier_Hermes_V1_WatchDelivererPositionsResponse>()
      var request = Courier_Hermes_V1_WatchDelivererPositionsRequest()
      request.delivererIds = [deliverer.delivererID]
      let opened = request
      let watch = Task { try await h.call(as: h.admin) { try await h.core.watchDeliverers(opened) { seen.append($0) } } }
      defer { watch.cancel() }
      try await seen.wait(for: 1)
      _ = try await h.report(h.location(meters: 30), as: caller)
      try await seen.wait(for: 2)
      #expect(seen.all.map(\.displayName) == ["Dora", "Dora"])
      #expect(seen.all.last?.location.point.latitude == h.location(meters: 30).point.latitude)
      let user = Caller(userID: h.directory.add(), roles: ["user"])
      await expectCode(.permissionDenied) { try await h.call(as: user) { try await h.core.watchDeliverers(.init()) { _ in } } }
      request.delivererIds = [UUID().uuidString.lowercased()]
      await expectCode(.notFound) { try await h.call(as: h.admin) { try await h.core.watchDeliverers(request) { _ in } } }
    }
  }
}

/// Runs the harness's hub; returns once both of its LISTENs are in effect, so that no notification
/// sent after this is missed.
private func listeningHub(_ h: Harness) async throws -> Task<Void, any Error> {
  let (listening, ready) = AsyncStream.makeStream(of: Void.self)
  let hub = Task {
    defer { ready.finish() }
    try await h.hub.run(pool: h.pool) { ready.yield() }
  }
  var iterator = listening.makeAsyncIterator()
  guard await iterator.next() != nil else {
    let outcome = await hub.result
    throw HubDidNotListen(outcome: "\(outcome)")
  }
  return hub
}

struct HubDidNotListen: Error, CustomStringConvertible {
  var outcome: String
  var description: String { "the position hub ended before it listened: \(outcome)" }
}

/// Collects what a watch stream writes.
final class Collected<Element: Sendable>: Sendable {
  private let items = Mutex<[Element]>([])
  func append(_ item: Element) { items.withLock { $0.append(item) } }
  var all: [Element] { items.withLock { $0 } }

  func wait(for count: Int, seconds: Double = 20) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while all.count < count {
      guard ContinuousClock.now < deadline else {
        Issue.record("only \(all.count) of \(count) messages arrived")
        return
      }
      try await Task.sleep(for: .milliseconds(20))
    }
  }
}
