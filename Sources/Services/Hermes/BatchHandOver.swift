import Synchronization

/// A bounded hand-over between the task that reads a stream and the task that stores what it
/// read. The storing side takes everything that arrived while it was busy as one batch (so one
/// transaction carries many fixes when a device sends faster than one commit takes, and a single
/// fix when it does not: no waiting to fill a batch). The reading side waits while `capacity`
/// elements are waiting, so a fast sender meets back-pressure instead of growing a buffer.
final class BatchHandOver<Element: Sendable>: Sendable {
  private struct State {
    var items: [Element] = []
    var finished = false
    var failure: (any Error)?
    var closed = false
    var waitingTaker: CheckedContinuation<Void, Never>?
    var waitingGiver: CheckedContinuation<Void, Never>?
  }

  private enum GiveStep { case added(CheckedContinuation<Void, Never>?), full, closed }
  private enum TakeStep { case batch([Element], CheckedContinuation<Void, Never>?), end, failed(any Error), wait }

  private let capacity: Int
  private let state = Mutex(State())

  init(capacity: Int) {
    precondition(capacity > 0, "a hand-over needs room for one element")
    self.capacity = capacity
  }

  /// Adds one element, waiting while the hand-over is full. False once the taker has closed it:
  /// the reader should stop reading.
  func give(_ element: Element) async -> Bool {
    while true {
      let step: GiveStep = state.withLock { state in
        if state.closed { return .closed }
        guard state.items.count < capacity else { return .full }
        state.items.append(element)
        defer { state.waitingTaker = nil }
        return .added(state.waitingTaker)
      }
      switch step {
      case .closed:
        return false
      case .added(let taker):
        taker?.resume()
        return true
      case .full:
        await withCheckedContinuation { continuation in
          let ready = state.withLock { state in
            if state.closed || state.items.count < capacity { return true }
            state.waitingGiver = continuation
            return false
          }
          if ready { continuation.resume() }
        }
      }
    }
  }

  /// No more elements: the taker gets what is left, then the end (or `failure`).
  func finish(throwing failure: (any Error)? = nil) {
    let taker = state.withLock { state in
      state.finished = true
      state.failure = failure
      defer { state.waitingTaker = nil }
      return state.waitingTaker
    }
    taker?.resume()
  }

  /// The taker gives up: a waiting giver is released and later gifts are refused.
  func close() {
    let giver = state.withLock { state in
      state.closed = true
      state.items = []
      defer { state.waitingGiver = nil }
      return state.waitingGiver
    }
    giver?.resume()
  }

  /// Everything waiting (at least one element), waiting for one if none is; nil at the end.
  /// Rethrows the failure given to `finish(throwing:)` once the elements before it are taken.
  func take() async throws -> [Element]? {
    while true {
      let step: TakeStep = state.withLock { state in
        if !state.items.isEmpty {
          let batch = state.items
          state.items = []
          defer { state.waitingGiver = nil }
          return .batch(batch, state.waitingGiver)
        }
        if let failure = state.failure { return .failed(failure) }
        return state.finished ? .end : .wait
      }
      switch step {
      case .batch(let batch, let giver):
        giver?.resume()
        return batch
      case .end:
        return nil
      case .failed(let failure):
        throw failure
      case .wait:
        await withCheckedContinuation { continuation in
          let ready = state.withLock { state in
            if !state.items.isEmpty || state.finished { return true }
            state.waitingTaker = continuation
            return false
          }
          if ready { continuation.resume() }
        }
      }
    }
  }
}
