internal import Foundation

/// The thread that owns one libpq connection, and a `TaskExecutor` that runs on it.
///
/// `PostgresPool.withConnection` runs its body with this executor as the task's preference, so
/// (unless the body is isolated to an actor) the body's code runs on this thread and a statement
/// calls blocking libpq directly: no thread hand-off per statement, the same number of context
/// switches as a plain C client. From any other thread, ``run(_:)`` hands the blocking call over.
/// The thread is never a NIO event loop and never one of Swift's cooperative threads, so blocking
/// on it starves nobody but the code that chose to run here.
final class ConnectionThread: TaskExecutor, @unchecked Sendable {
  private enum Work {
    case job(UnownedJob)
    case closure(@Sendable () -> Void)
  }

  private let condition = NSCondition()
  private var queue: [Work] = []
  private var head = 0
  private var stopping = false
  private var exited = false
  /// Weak: the running thread keeps its `Thread` alive; the closure keeps `self` alive until the loop ends.
  private weak var thread: Thread?

  init(name: String) {
    let thread = Thread { [self] in self.loop() }
    thread.name = name
    self.thread = thread
    thread.start()
  }

  /// True when called on this thread.
  var isCurrent: Bool { Thread.current === thread }

  func enqueue(_ job: consuming ExecutorJob) {
    push(.job(UnownedJob(job)))
  }

  /// Runs `body` on this thread and returns its result (inline if already on it).
  func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    if isCurrent { return body() }
    return await withCheckedContinuation { continuation in
      push(.closure { continuation.resume(returning: body()) })
    }
  }

  /// Queues `body` (which may block for as long as it likes) and returns at once.
  func submit(_ body: @escaping @Sendable () -> Void) {
    push(.closure(body))
  }

  /// Lets the thread end once its queue is empty.
  func stop() {
    condition.lock()
    stopping = true
    condition.signal()
    condition.unlock()
  }

  private func push(_ work: Work) {
    condition.lock()
    if exited {
      condition.unlock()
      // Late work after the thread ended (a task still preferring this executor): run it on a
      // fresh thread rather than lose it.
      Thread.detachNewThread { [self] in self.perform(work) }
      return
    }
    queue.append(work)
    condition.signal()
    condition.unlock()
  }

  private func loop() {
    while true {
      condition.lock()
      while head == queue.count && !stopping { condition.wait() }
      if head == queue.count {
        exited = true
        condition.unlock()
        break
      }
      let work = queue[head]
      head += 1
      if head == queue.count {
        queue.removeAll(keepingCapacity: true)
        head = 0
      }
      condition.unlock()
      perform(work)
    }
  }

  private func perform(_ work: Work) {
    switch work {
    case .job(let job): job.runSynchronously(on: asUnownedTaskExecutor())
    case .closure(let body): body()
    }
  }
}
