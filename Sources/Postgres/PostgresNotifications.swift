internal import Foundation
internal import Logging
internal import Synchronization

#if canImport(Glibc)
  internal import Glibc
#elseif canImport(Darwin)
  internal import Darwin
#endif

/// A notification sent with `NOTIFY channel, 'payload'` or `pg_notify`.
public struct PostgresNotification: Sendable, Hashable {
  public var channel: String
  public var payload: String
  /// The server process that sent it.
  public var processID: Int
}

/// The notifications of one channel, as an async sequence.
///
/// Backed by a dedicated connection (outside the pool's bound) and a dedicated thread that waits
/// on the socket with `poll`. If the connection breaks, the listener reconnects with backoff and
/// listens again; notifications sent while it was disconnected are lost, so a consumer that must
/// not miss work should also sweep periodically. Dropping the sequence (or cancelling the task
/// that iterates it) stops the thread and closes the connection.
public struct PostgresNotifications: AsyncSequence, Sendable {
  public typealias Element = PostgresNotification
  let stream: AsyncStream<PostgresNotification>

  public struct AsyncIterator: AsyncIteratorProtocol {
    var base: AsyncStream<PostgresNotification>.AsyncIterator
    public mutating func next() async -> PostgresNotification? { await base.next() }
    public mutating func next(isolation actor: isolated (any Actor)?) async -> PostgresNotification? {
      await base.next(isolation: actor)
    }
  }

  public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }
}

extension PostgresPool {
  /// Starts listening on `channel`. When this returns, `LISTEN` has taken effect: every
  /// notification committed afterwards is delivered.
  public func listen(to channel: String, file: String = #fileID, line: Int = #line) async throws -> PostgresNotifications {
    let configuration = self.configuration
    let listenSQL = "LISTEN " + PostgresQuery.quoteIdentifier(channel)
    let thread = ConnectionThread(name: "courier-pg-listen")
    let connect: @Sendable () throws(PostgresError) -> LibPQConnection = { () throws(PostgresError) in
      let connection = try LibPQConnection.connect(configuration, id: 0, thread: thread)
      do throws(PostgresError) {
        _ = try connection.executeSimple(listenSQL)
      } catch {
        connection.close()
        throw error
      }
      return connection
    }
    let first = await thread.run { () -> Result<LibPQConnection, PostgresError> in
      do throws(PostgresError) { return .success(try connect()) } catch { return .failure(error) }
    }
    let connection: LibPQConnection
    do {
      connection = try first.get()
    } catch {
      thread.stop()
      throw error.located(statement: listenSQL, file: file, line: line)
    }
    let (stream, continuation) = AsyncStream<PostgresNotification>.makeStream(bufferingPolicy: .unbounded)
    let listener = try Listener(connection: connection, reconnect: connect, continuation: continuation, logger: logger)
    continuation.onTermination = { _ in listener.stop() }
    // The listener's loop blocks in poll(2) on the connection's thread until stopped.
    thread.submit { listener.run() }
    return PostgresNotifications(stream: stream)
  }

  /// Sends a notification (`pg_notify`); delivered when the surrounding transaction commits.
  public func notify(channel: String, payload: String = "", file: String = #fileID, line: Int = #line) async throws {
    try await query("SELECT pg_notify(\(channel), \(payload))", file: file, line: line)
  }
}

extension PostgresTransaction {
  /// Sends a notification that is delivered if and when this transaction commits. The
  /// `pg_notify` is queued (``enqueue(_:file:line:)``): it costs no round trip of its own, and an
  /// error (a payload over 8,000 bytes) fails the next statement or the commit.
  public func notify(channel: String, payload: String = "", file: String = #fileID, line: Int = #line) async throws {
    try enqueue("SELECT pg_notify(\(channel), \(payload))", file: file, line: line)
  }

  /// Sends several notifications on one channel, in the order given, if and when this transaction
  /// commits: one queued statement (`pg_notify` over `unnest`, which yields the array in order)
  /// whatever their number; nothing for none. An error (a payload over 8,000 bytes) fails the next
  /// statement or the commit, as for one.
  public func notify(channel: String, payloads: [String], file: String = #fileID, line: Int = #line) throws {
    guard !payloads.isEmpty else { return }
    try enqueue(
      "SELECT pg_notify(\(channel), body) FROM unnest(\(PostgresArray(payloads))) AS body", file: file, line: line)
  }
}

/// The thread side of ``PostgresNotifications``: waits on the connection's socket and on a wake-up
/// pipe, forwards notifications, reconnects after a break, and stops when woken.
private final class Listener: @unchecked Sendable {
  private var connection: LibPQConnection?
  private let reconnect: @Sendable () throws(PostgresError) -> LibPQConnection
  private let continuation: AsyncStream<PostgresNotification>.Continuation
  private let logger: Logger
  private let wakeRead: Int32
  private let wakeWrite: Int32
  private let stopped = Atomic<Bool>(false)

  init(
    connection: LibPQConnection,
    reconnect: @escaping @Sendable () throws(PostgresError) -> LibPQConnection,
    continuation: AsyncStream<PostgresNotification>.Continuation,
    logger: Logger
  ) throws {
    var fds: [Int32] = [0, 0]
    // Close-on-exec: a child process must not keep the wake-up pipe open.
    guard pipe(&fds) == 0, fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0 else {
      connection.close()
      throw PostgresError(code: .connectionFailed, message: "cannot create a wake-up pipe (errno \(errno))")
    }
    self.connection = connection
    self.reconnect = reconnect
    self.continuation = continuation
    self.logger = logger
    self.wakeRead = fds[0]
    self.wakeWrite = fds[1]
  }

  func stop() {
    guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
    var byte: UInt8 = 1
    _ = write(wakeWrite, &byte, 1)
  }

  func run() {
    var backoffMilliseconds: Int32 = 20
    while !stopped.load(ordering: .acquiring) {
      guard let connection else {
        // Disconnected: wait (interruptibly) and try again.
        if waitForWake(timeoutMilliseconds: backoffMilliseconds) { break }
        backoffMilliseconds = min(backoffMilliseconds * 2, 1000)
        do throws(PostgresError) {
          self.connection = try reconnect()
          backoffMilliseconds = 20
          logger.info("listener reconnected")
        } catch {
          logger.debug("listener reconnect failed", metadata: ["error": "\(error)"])
        }
        continue
      }
      var descriptors = [
        pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0),
        pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
      ]
      let ready = poll(&descriptors, 2, -1)
      if ready < 0 { continue }  // EINTR
      if descriptors[1].revents != 0 { break }
      if descriptors[0].revents != 0 {
        if let notifications = connection.readNotifications() {
          for notification in notifications { continuation.yield(notification) }
        } else {
          logger.info("listener connection lost; reconnecting")
          connection.close()
          self.connection = nil
        }
      }
    }
    // Closing the connection also ends its thread (this one) once run() returns.
    connection?.close()
    connection = nil
    continuation.finish()
  }

  deinit {
    close(wakeRead)
    close(wakeWrite)
  }

  /// True if woken (stop requested) within the timeout.
  private func waitForWake(timeoutMilliseconds: Int32) -> Bool {
    var descriptor = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, timeoutMilliseconds) > 0
  }
}
