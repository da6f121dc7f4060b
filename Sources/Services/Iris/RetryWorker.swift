import Foundation
import Logging
import ServiceLifecycle

/// Tries again, in the background, every delivery whose next try is due: RETRYING rows after their
/// backoff, and PENDING or RETRYING rows whose sender stopped before writing an outcome (their
/// lease ran out). Several Iris processes may run it together: rows are claimed with
/// `FOR UPDATE SKIP LOCKED`.
struct RetryWorker: Service {
  let sender: DeliverySender
  /// The longest sleep between two looks at the table; shorter when a row is due sooner.
  let pollInterval: Duration
  let batchSize: Int
  let logger: Logger

  func run() async throws {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        do {
          let claimed = try await sender.store.claimDue(limit: batchSize, lease: sender.policy.lease)
          if !claimed.isEmpty {
            await withTaskGroup(of: Void.self) { group in
              for record in claimed {
                group.addTask {
                  do {
                    _ = try await sender.attempt(record, first: false)
                  } catch {
                    logger.error("retry failed to record its outcome; the row is tried again after its lease", metadata: [
                      "delivery_id": "\(record.id.text)", "error": "\(error)",
                    ])
                  }
                }
              }
            }
            if claimed.count == batchSize { continue }
          }
          var wait = pollInterval
          if let due = try await sender.store.nextDueDate() {
            let until = Duration.milliseconds(Int64(max(0, due.timeIntervalSinceNow) * 1000) + 5)
            if until < wait { wait = until }
          }
          try await Task.sleep(for: wait)
        } catch is CancellationError {
          return
        } catch {
          logger.warning("retry worker could not read the delivery table; trying again", metadata: ["error": "\(error)"])
          try? await Task.sleep(for: pollInterval)
        }
      }
    }
  }
}
