internal import DequeModule
internal import GRPCCore
internal import NIOConcurrencyHelpers
internal import NIOCore

/// The inbound half of one stream, shared by its event loop (which appends) and the task that
/// reads it. A read that finds a part already buffered returns it without suspending; a reader
/// that must wait is woken once per batch of parts.
///
/// Back-pressure: DATA bytes are given back to the peer's flow control window (`release`) only
/// while fewer than `highWatermark` message bytes wait to be read; beyond that the bytes are owed
/// and released when the reader catches up.
final class StreamInbound<Part: Sendable>: @unchecked Sendable {
  private struct State {
    var parts = Deque<Part>()
    var bufferedBytes = 0
    var owedBytes = 0
    var releaseScheduled = false
    var terminal: (any Error)?
    var finished = false
    var waiter: CheckedContinuation<Part?, any Error>?
  }

  private let lock = NIOLock()
  private var state = State()
  private let highWatermark: Int
  private let eventLoop: any EventLoop
  /// Called on the event loop with the number of bytes to give back to flow control.
  private let release: @Sendable (Int) -> Void
  /// The message bytes a part holds (0 for metadata and status).
  let messageSize: @Sendable (Part) -> Int

  init(
    highWatermark: Int,
    eventLoop: any EventLoop,
    messageSize: @escaping @Sendable (Part) -> Int,
    release: @escaping @Sendable (Int) -> Void
  ) {
    self.highWatermark = highWatermark
    self.eventLoop = eventLoop
    self.messageSize = messageSize
    self.release = release
  }

  // MARK: Event loop side

  /// Appends parts; `receivedBytes` DATA bytes came with them. Returns how many of those bytes
  /// may be released to flow control now. Wakes a waiting reader.
  func append(contentsOf parts: some Collection<Part>, messageBytes: Int, receivedBytes: Int) -> Int {
    var waiter: CheckedContinuation<Part?, any Error>?
    var first: Part?
    let releasable: Int = self.lock.withLock {
      guard !self.state.finished else { return receivedBytes }
      var parts = parts[...]
      var queuedBytes = messageBytes
      if let waiting = self.state.waiter, let head = parts.first {
        self.state.waiter = nil
        waiter = waiting
        first = head
        parts = parts.dropFirst()
        queuedBytes -= self.messageSize(head)
      }
      self.state.parts.append(contentsOf: parts)
      self.state.bufferedBytes += queuedBytes
      if self.state.bufferedBytes > self.highWatermark {
        self.state.owedBytes += receivedBytes
        return 0
      }
      return receivedBytes
    }
    if let waiter, let first { waiter.resume(returning: first) }
    return releasable
  }

  /// Ends the sequence: normally with `nil`, or by throwing `error` once buffered parts are read
  /// (or at once, if `discardBuffered`).
  func finish(throwing error: (any Error)? = nil, discardBuffered: Bool = false) {
    let waiter: CheckedContinuation<Part?, any Error>? = self.lock.withLock {
      guard !self.state.finished else { return nil }
      self.state.finished = true
      self.state.terminal = error
      if discardBuffered { self.state.parts.removeAll() }
      if self.state.parts.isEmpty {
        defer { self.state.waiter = nil }
        return self.state.waiter
      }
      return nil
    }
    if let waiter {
      if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
    }
  }

  // MARK: Reader side

  /// What a reader whose task is cancelled gets.
  static var cancelled: RPCError { RPCError(code: .cancelled, message: "The RPC was cancelled") }

  /// Pops the next buffered part; also returns the owed bytes that may now be released.
  private func popLocked() -> (Part, release: Int)? {
    guard let part = self.state.parts.popFirst() else { return nil }
    self.state.bufferedBytes -= self.messageSize(part)
    var release = 0
    if self.state.owedBytes > 0, self.state.bufferedBytes <= self.highWatermark / 2 {
      release = self.state.owedBytes
      self.state.owedBytes = 0
    }
    return (part, release)
  }

  private func scheduleRelease(_ count: Int) {
    guard count > 0 else { return }
    let release = self.release
    self.eventLoop.execute { release(count) }
  }

  func next() async throws -> Part? {
    let immediate: ImmediateRead<Part> = self.lock.withLock {
      if let (part, release) = self.popLocked() {
        return .part(part, release: release)
      }
      if self.state.finished {
        return .end(self.state.terminal)
      }
      return .wait
    }
    switch immediate {
    case .part(let part, let release):
      self.scheduleRelease(release)
      return part
    case .end(let error):
      if let error { throw error }
      return nil
    case .wait:
      return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
          var release = 0
          let resume: Result<Part?, any Error>? = self.lock.withLock {
            if let (part, owed) = self.popLocked() {
              release = owed
              return .success(part)
            }
            if self.state.finished {
              if let error = self.state.terminal { return .failure(error) }
              return .success(nil)
            }
            if Task.isCancelled { return .failure(Self.cancelled) }
            self.state.waiter = continuation
            return nil
          }
          self.scheduleRelease(release)
          if let resume { continuation.resume(with: resume) }
        }
      } onCancel: {
        let waiter = self.lock.withLock {
          defer { self.state.waiter = nil }
          return self.state.waiter
        }
        waiter?.resume(throwing: Self.cancelled)
      }
    }
  }
}

private enum ImmediateRead<Part> {
  case part(Part, release: Int)
  case end((any Error)?)
  case wait
}

/// The inbound sequence handed to GRPCCore: a thin view of a ``StreamInbound``.
struct StreamInboundSequence<Part: Sendable>: AsyncSequence, Sendable {
  typealias Element = Part
  let inbound: StreamInbound<Part>

  struct AsyncIterator: AsyncIteratorProtocol {
    let inbound: StreamInbound<Part>

    mutating func next() async throws -> Part? {
      try await self.inbound.next()
    }

    mutating func next(isolation actor: isolated (any Actor)?) async throws(any Error) -> Part? {
      try await self.inbound.next()
    }
  }

  func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(inbound: self.inbound)
  }
}
