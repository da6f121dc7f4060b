internal import DequeModule
internal import GRPCCore
internal import NIOConcurrencyHelpers
internal import NIOCore

/// The outbound half of one stream, shared by the task that writes and the event loop that sends.
/// A write appends to the queue without suspending and asks the event loop for one flush per
/// batch; it suspends only while more than `highWatermark` bytes wait to be sent.
final class StreamOutbound<Part: Sendable>: @unchecked Sendable {
  private struct State {
    var parts = Deque<Part>()
    var queuedBytes = 0
    var flushScheduled = false
    var finished = false
    var closedError: (any Error)?
    var waiters: [CheckedContinuation<Void, any Error>] = []
  }

  private let lock = NIOLock()
  private var state = State()
  private let highWatermark: Int
  private let eventLoop: any EventLoop
  /// Runs on the event loop to take the queued parts.
  private let flush: @Sendable () -> Void

  init(highWatermark: Int, eventLoop: any EventLoop, flush: @escaping @Sendable () -> Void) {
    self.highWatermark = highWatermark
    self.eventLoop = eventLoop
    self.flush = flush
  }

  // MARK: Writer side

  func write(_ part: Part, size: Int, finishing: Bool = false) async throws {
    let action: WriteAction = try self.lock.withLock {
      if let error = self.state.closedError { throw error }
      if self.state.finished { return .none }
      self.state.parts.append(part)
      self.state.queuedBytes += size
      if finishing { self.state.finished = true }
      let schedule = !self.state.flushScheduled
      self.state.flushScheduled = true
      if schedule { return .schedule }
      return self.state.queuedBytes > self.highWatermark ? .wait : .none
    }
    switch action {
    case .none:
      return
    case .schedule:
      self.eventLoop.execute(self.flush)
    case .wait:
      try await withCheckedThrowingContinuation { continuation in
        let ready: Result<Void, any Error>? = self.lock.withLock {
          if let error = self.state.closedError { return .failure(error) }
          if self.state.queuedBytes <= self.highWatermark { return .success(()) }
          self.state.waiters.append(continuation)
          return nil
        }
        if let ready { continuation.resume(with: ready) }
      }
    }
  }

  // MARK: Event loop side

  /// Takes up to `maxBytes` worth of queued parts (at least one). The returned flag says whether
  /// parts are left, in which case the caller calls again once it has room.
  func take(maxBytes: Int, size: (Part) -> Int) -> (parts: [Part], more: Bool) {
    var waiters: [CheckedContinuation<Void, any Error>] = []
    let result: ([Part], Bool) = self.lock.withLock {
      var taken: [Part] = []
      var bytes = 0
      while let part = self.state.parts.first, taken.isEmpty || bytes < maxBytes {
        self.state.parts.removeFirst()
        let partSize = size(part)
        bytes += partSize
        self.state.queuedBytes -= partSize
        taken.append(part)
      }
      let more = !self.state.parts.isEmpty
      self.state.flushScheduled = more
      if self.state.queuedBytes <= self.highWatermark {
        waiters = self.state.waiters
        self.state.waiters.removeAll()
      }
      return (taken, more)
    }
    for waiter in waiters { waiter.resume() }
    return result
  }

  /// The stream is gone: writes from now on throw `error`; waiting writers are failed.
  func close(error: any Error) {
    let waiters: [CheckedContinuation<Void, any Error>] = self.lock.withLock {
      if self.state.closedError == nil { self.state.closedError = error }
      self.state.parts.removeAll()
      self.state.queuedBytes = 0
      defer { self.state.waiters.removeAll() }
      return self.state.waiters
    }
    for waiter in waiters { waiter.resume(throwing: error) }
  }
}

private enum WriteAction {
  case none
  case schedule
  case wait
}

/// The writer handed to GRPCCore for one stream.
struct StreamOutboundWriter<Element: Sendable, Part: Sendable>: ClosableRPCWriterProtocol {
  let outbound: StreamOutbound<Part>
  let size: @Sendable (Part) -> Int
  /// Turns what GRPCCore writes into what the stream queues.
  let wrap: @Sendable (Element) -> Part
  /// The part that `finish()` writes, if any (the client's end of stream).
  let endPart: Part?
  /// Maps `finish(throwing:)` to a final part, if any.
  let errorPart: @Sendable (any Error) -> Part?

  func write(_ element: Element) async throws {
    let part = self.wrap(element)
    try await self.outbound.write(part, size: self.size(part))
  }

  func write(contentsOf elements: some Sequence<Element>) async throws {
    for element in elements {
      let part = self.wrap(element)
      try await self.outbound.write(part, size: self.size(part))
    }
  }

  func finish() async {
    if let endPart {
      try? await self.outbound.write(endPart, size: 0, finishing: true)
    }
  }

  func finish(throwing error: any Error) async {
    if let part = self.errorPart(error) {
      try? await self.outbound.write(part, size: 0, finishing: true)
    }
  }
}
