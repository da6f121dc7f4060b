import GRPCCore
import Synchronization

/// Gathers the fixes of all ReportLocation streams into shared transactions (group commit): the
/// requests that arrive while a transaction runs go into the next one together, up to
/// `maxFixes` fixes, one transaction at a time.
///
/// Why: 40 devices sending a fix each every 40 ms were 1,000 transactions a second, each with its
/// own round trips and WAL flush; gathered, they are a few dozen, and a lone fix still goes at once.
/// One at a time rather than two: each transaction then takes all that waited, so there are fewer
/// and larger ones for the same fixes. At 1,000 fixes/s (`scripts/bench-pipeline.sh`, ten runs each,
/// in turn on one build) the fix-to-processed p99 was 133-200 ms (median 164) against 163-266 ms
/// (median 195) with two, fix to published p99 37-64 ms against 51-79 ms, and the sustained rate
/// 3,855-5,566 fixes/s against 3,508-4,463.
final class FixIntake: Sendable {
  private struct Waiting {
    var request: FixRequest
    var continuation: CheckedContinuation<[FixOutcome], any Error>
  }

  private struct State {
    var queue: [Waiting] = []
    /// Whether a worker runs transactions (``drain(_:)``) until the queue is empty.
    var draining = false
  }

  private let state = Mutex(State())
  private let maxFixes: Int

  init(maxFixes: Int) {
    self.maxFixes = max(1, maxFixes)
  }

  /// Keeps `request` in the next shared transaction of `core` and returns its outcomes.
  func keep(_ request: FixRequest, in core: HermesCore) async throws -> [FixOutcome] {
    try await withCheckedThrowingContinuation { continuation in
      let start = state.withLock { state in
        state.queue.append(Waiting(request: request, continuation: continuation))
        guard !state.draining else { return false }
        state.draining = true
        return true
      }
      if start { Task { await drain(core) } }
    }
  }

  /// Runs transactions until nothing waits.
  private func drain(_ core: HermesCore) async {
    while let batch = next() {
      do {
        let results = try await core.keepFixes(batch.map(\.request))
        for (waiting, result) in zip(batch, results) { waiting.continuation.resume(with: result) }
      } catch {
        for waiting in batch { waiting.continuation.resume(throwing: error) }
      }
    }
  }

  /// The requests for the next transaction (at least one, then whole requests up to `maxFixes`
  /// fixes), or nil, ending this worker, when none wait.
  private func next() -> [Waiting]? {
    state.withLock { state in
      guard !state.queue.isEmpty else {
        state.draining = false
        return nil
      }
      var fixes = 0
      var count = 0
      for waiting in state.queue {
        if count > 0 && fixes + waiting.request.locations.count > maxFixes { break }
        fixes += waiting.request.locations.count
        count += 1
      }
      let batch = Array(state.queue.prefix(count))
      state.queue.removeFirst(count)
      return batch
    }
  }
}
