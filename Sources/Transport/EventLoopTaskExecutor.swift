internal import NIOConcurrencyHelpers
internal import NIOCore

/// Runs tasks' jobs on one NIO event loop. A stream handler started with this preference reads
/// the messages that loop decoded and queues its writes for that loop's next flush without a
/// thread hand-over in either direction.
final class EventLoopTaskExecutor: TaskExecutor {
  let eventLoop: any EventLoop

  init(_ eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    self.eventLoop.execute {
      job.runSynchronously(on: self.asUnownedTaskExecutor())
    }
  }
}

/// The stream handlers a server started outside a task group, so that `listen` can cancel them
/// when it is cancelled and return only after the last one has ended.
final class HandlerTasks: Sendable {
  private struct State {
    var running: [Int: Task<Void, Never>] = [:]
    var count = 0
    var nextID = 0
    /// Handlers that ended before their task was registered.
    var endedEarly: Set<Int> = []
    var cancelled = false
    var waiter: CheckedContinuation<Void, Never>?
  }

  private let state = NIOLockedValueBox(State())

  /// Starts `body` as a task that prefers `executor`.
  func start(on executor: any TaskExecutor, _ body: @escaping @Sendable () async -> Void) {
    let id: Int = self.state.withLockedValue { state in
      state.nextID += 1
      state.count += 1
      return state.nextID
    }
    let task = Task(executorPreference: executor) {
      await body()
      self.ended(id)
    }
    let cancel: Bool = self.state.withLockedValue { state in
      if state.endedEarly.remove(id) != nil { return false }
      state.running[id] = task
      return state.cancelled
    }
    if cancel { task.cancel() }
  }

  private func ended(_ id: Int) {
    let waiter: CheckedContinuation<Void, Never>? = self.state.withLockedValue { state in
      if state.running.removeValue(forKey: id) == nil { state.endedEarly.insert(id) }
      state.count -= 1
      guard state.count == 0 else { return nil }
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }

  /// Cancels every running handler, and every one started from now on.
  func cancelAll() {
    let tasks: [Task<Void, Never>] = self.state.withLockedValue { state in
      state.cancelled = true
      return Array(state.running.values)
    }
    for task in tasks { task.cancel() }
  }

  /// Returns once no handler is running.
  func waitForAll() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let done: Bool = self.state.withLockedValue { state in
        if state.count == 0 { return true }
        state.waiter = continuation
        return false
      }
      if done { continuation.resume() }
    }
  }
}
