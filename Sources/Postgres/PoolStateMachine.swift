/// The bookkeeping of a bounded connection pool, free of I/O so that it can be tested alone.
///
/// A slot is either idle (a connection in `idle`) or leased (`leased` counts connections handed
/// out and connections being opened). Callers that find no idle connection and no free slot wait
/// in FIFO order. When a slot frees up, the first waiter gets the connection or, if the connection
/// was broken, the right to open a new one. Waiters leave on timeout or cancellation.
struct PoolStateMachine<Connection: AnyObject> {
  let maxConnections: Int
  private(set) var idle: [Connection] = []
  private(set) var leased = 0
  private(set) var waiters: [Int] = []
  private(set) var isClosed = false

  init(maxConnections: Int) {
    self.maxConnections = maxConnections
  }

  /// What a waiter is given when it is woken.
  enum Grant {
    case connection(Connection)
    /// A slot is reserved: open a new connection.
    case create
  }

  enum LeaseAction {
    case use(Connection)
    case create
    /// Enqueued as waiter `id`; wait for `granted` or `timedOut`.
    case wait
    case failClosed
  }

  mutating func lease(waiterID: Int) -> LeaseAction {
    if isClosed { return .failClosed }
    if let connection = idle.popLast() {
      leased += 1
      return .use(connection)
    }
    if leased < maxConnections {
      leased += 1
      return .create
    }
    waiters.append(waiterID)
    return .wait
  }

  enum ReleaseAction {
    /// Keep it idle.
    case park
    /// Give it to waiter `id`.
    case handOver(Connection, waiterID: Int)
    /// Close it; the slot is free.
    case close(Connection)
    /// Close it and let waiter `id` open a new one in its slot.
    case closeAndGrantCreate(Connection, waiterID: Int)
  }

  /// A leased connection comes back; `reusable` is false when it is broken or mid-transaction.
  mutating func release(_ connection: Connection, reusable: Bool) -> ReleaseAction {
    precondition(leased > 0, "release without lease")
    if isClosed {
      leased -= 1
      return .close(connection)
    }
    if reusable {
      if !waiters.isEmpty {
        return .handOver(connection, waiterID: waiters.removeFirst())
      }
      leased -= 1
      idle.append(connection)
      return .park
    }
    if !waiters.isEmpty {
      return .closeAndGrantCreate(connection, waiterID: waiters.removeFirst())
    }
    leased -= 1
    return .close(connection)
  }

  /// A leased slot holds no connection any more (opening one failed, or a broken idle one was
  /// dropped and will not be replaced). Returns a waiter that may now open one.
  mutating func slotFreed() -> Int? {
    precondition(leased > 0, "slotFreed without lease")
    if !isClosed, !waiters.isEmpty { return waiters.removeFirst() }
    leased -= 1
    return nil
  }

  /// Waiter `id` gave up (timeout or cancellation). False if it had already been granted.
  mutating func cancelWaiter(_ id: Int) -> Bool {
    guard let index = waiters.firstIndex(of: id) else { return false }
    waiters.remove(at: index)
    return true
  }

  /// Closes the pool: returns the idle connections to close and the waiters to fail.
  mutating func close() -> (idle: [Connection], waiters: [Int]) {
    isClosed = true
    defer {
      idle = []
      waiters = []
    }
    return (idle, waiters)
  }
}

extension PoolStateMachine.Grant: Sendable where Connection: Sendable {}
