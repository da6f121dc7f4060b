internal import Foundation

/// One thread that runs blocking libcurl calls, one after the other, so that they never occupy
/// one of Swift's cooperative threads or a NIO event loop.
final class SMTPWorkerThread: @unchecked Sendable {
  private let condition = NSCondition()
  private var queue: [@Sendable () -> Void] = []
  private var stopping = false

  init(name: String) {
    let thread = Thread { [self] in self.loop() }
    thread.name = name
    thread.start()
  }

  /// Runs `body` on the thread and returns its result.
  func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
      push { continuation.resume(returning: body()) }
    }
  }

  /// Lets the thread end once its queue is empty.
  func stop() {
    condition.lock()
    stopping = true
    condition.signal()
    condition.unlock()
  }

  private func push(_ work: @escaping @Sendable () -> Void) {
    condition.lock()
    if stopping {
      condition.unlock()
      Thread.detachNewThread { work() }  // late work after stop: still run, never lose a continuation
      return
    }
    queue.append(work)
    condition.signal()
    condition.unlock()
  }

  private func loop() {
    while true {
      condition.lock()
      while queue.isEmpty && !stopping { condition.wait() }
      if queue.isEmpty {
        condition.unlock()
        return
      }
      let work = queue.removeFirst()
      condition.unlock()
      work()
    }
  }
}
