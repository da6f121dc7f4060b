import Testing

@testable import Postgres

private final class FakeConnection {}

@Suite("PoolStateMachine")
struct PoolStateMachineTests {
  @Test func createsUpToTheBoundThenQueuesWaiters() {
    var machine = PoolStateMachine<FakeConnection>(maxConnections: 2)
    guard case .create = machine.lease(waiterID: 1) else { Issue.record("expected create"); return }
    guard case .create = machine.lease(waiterID: 2) else { Issue.record("expected create"); return }
    guard case .wait = machine.lease(waiterID: 3) else { Issue.record("expected wait"); return }
    #expect(machine.leased == 2)
    #expect(machine.waiters == [3])
  }

  @Test func releaseHandsTheConnectionToTheFirstWaiter() {
    var machine = PoolStateMachine<FakeConnection>(maxConnections: 1)
    let connection = FakeConnection()
    _ = machine.lease(waiterID: 1)
    _ = machine.lease(waiterID: 2)
    _ = machine.lease(waiterID: 3)
    guard case .handOver(let handed, let waiter) = machine.release(connection, reusable: true) else {
      Issue.record("expected handOver")
      return
    }
    #expect(handed === connection)
    #expect(waiter == 2)
    #expect(machine.leased == 1)
    guard case .handOver(_, let next) = machine.release(connection, reusable: true) else {
      Issue.record("expected handOver")
      return
    }
    #expect(next == 3)
    guard case .park = machine.release(connection, reusable: true) else { Issue.record("expected park"); return }
    #expect(machine.idle.count == 1)
    #expect(machine.leased == 0)
    guard case .use(let reused) = machine.lease(waiterID: 4) else { Issue.record("expected use"); return }
    #expect(reused === connection)
  }

  @Test func brokenConnectionIsClosedAndAWaiterMayOpenANewOne() {
    var machine = PoolStateMachine<FakeConnection>(maxConnections: 1)
    _ = machine.lease(waiterID: 1)
    _ = machine.lease(waiterID: 2)
    guard case .closeAndGrantCreate(_, let waiter) = machine.release(FakeConnection(), reusable: false) else {
      Issue.record("expected closeAndGrantCreate")
      return
    }
    #expect(waiter == 2)
    #expect(machine.leased == 1)
    guard case .close = machine.release(FakeConnection(), reusable: false) else { Issue.record("expected close"); return }
    #expect(machine.leased == 0)
  }

  @Test func failedOpenFreesTheSlotOrPassesItOn() {
    var machine = PoolStateMachine<FakeConnection>(maxConnections: 1)
    _ = machine.lease(waiterID: 1)
    _ = machine.lease(waiterID: 2)
    let passedOn = machine.slotFreed()
    #expect(passedOn == 2)
    #expect(machine.leased == 1)
    let freed = machine.slotFreed()
    #expect(freed == nil)
    #expect(machine.leased == 0)
  }

  @Test func timedOutWaiterLeavesTheQueueOnce() {
    var machine = PoolStateMachine<FakeConnection>(maxConnections: 1)
    _ = machine.lease(waiterID: 1)
    _ = machine.lease(waiterID: 2)
    let firstCancel = machine.cancelWaiter(2)
    let secondCancel = machine.cancelWaiter(2)
    #expect(firstCancel)
    #expect(!secondCancel)
    guard case .park = machine.release(FakeConnection(), reusable: true) else { Issue.record("expected park"); return }
  }

  @Test func closeFailsWaitersAndClosesReturningConnections() {
    var machine = PoolStateMachine<FakeConnection>(maxConnections: 2)
    let idle = FakeConnection()
    _ = machine.lease(waiterID: 1)
    _ = machine.lease(waiterID: 2)
    _ = machine.release(idle, reusable: true)
    _ = machine.lease(waiterID: 3)  // takes the idle one back
    _ = machine.lease(waiterID: 4)  // waits
    let (idleConnections, waiters) = machine.close()
    #expect(idleConnections.isEmpty)
    #expect(waiters == [4])
    guard case .close = machine.release(idle, reusable: true) else { Issue.record("expected close"); return }
    guard case .failClosed = machine.lease(waiterID: 5) else { Issue.record("expected failClosed"); return }
  }
}

@Suite("ConnectionStateMachine")
struct ConnectionStateMachineTests {
  @Test func secondStatementWhileOneRunsIsRefused() {
    var machine = ConnectionStateMachine()
    let first = machine.startStatement()
    let second = machine.startStatement()
    let finished = machine.statementFinished(connectionUsable: true)
    #expect(first == .execute)
    #expect(second == .fail(.connectionBusy, "connection is already running a statement"))
    #expect(finished == .none)
    #expect(machine.isReusable)
  }

  @Test func brokenConnectionIsNotReused() {
    var machine = ConnectionStateMachine()
    _ = machine.startStatement()
    _ = machine.statementFinished(connectionUsable: false)
    #expect(!machine.isReusable)
    guard case .fail(let code, _) = machine.startStatement() else { Issue.record("expected fail"); return }
    #expect(code == .connectionLost)
  }

  @Test func closeDuringAStatementWaitsForIt() {
    var machine = ConnectionStateMachine()
    _ = machine.startStatement()
    let close = machine.close()
    let finished = machine.statementFinished(connectionUsable: true)
    let again = machine.close()
    #expect(close == .closeWhenStatementEnds)
    #expect(finished == .close)
    #expect(again == .alreadyClosed)
  }
}
