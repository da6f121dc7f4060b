/// The life of one leased connection, as far as statements are concerned.
///
/// `ready` -> `executing` -> `ready`, until the connection breaks (`broken`, never used again) or
/// is closed. A statement started while another runs is refused (`connectionBusy`): libpq
/// connections are not safe for concurrent use. A close requested while a statement runs takes
/// effect when it ends.
struct ConnectionStateMachine: Sendable {
  enum State: Equatable, Sendable {
    case ready
    case executing(closeRequested: Bool)
    case broken
    case closed
  }

  private(set) var state: State = .ready

  enum StartAction: Equatable {
    case execute
    case fail(PostgresError.Code, String)
  }

  mutating func startStatement() -> StartAction {
    if let refusal { return .fail(refusal.code, refusal.message) }
    state = .executing(closeRequested: false)
    return .execute
  }

  /// Why a statement cannot start now (sent, or queued to be sent), or nil when it can.
  var refusal: (code: PostgresError.Code, message: String)? {
    switch state {
    case .ready: nil
    case .executing: (.connectionBusy, "connection is already running a statement")
    case .broken: (.connectionLost, "connection is broken")
    case .closed: (.poolClosed, "connection is closed")
    }
  }

  enum FinishAction: Equatable {
    case none
    case close
  }

  /// `connectionUsable` is false when the statement's error broke the connection.
  mutating func statementFinished(connectionUsable: Bool) -> FinishAction {
    guard case .executing(let closeRequested) = state else {
      preconditionFailure("statementFinished in state \(state)")
    }
    if closeRequested {
      state = .closed
      return .close
    }
    state = connectionUsable ? .ready : .broken
    return .none
  }

  enum CloseAction: Equatable {
    case closeNow
    case closeWhenStatementEnds
    case alreadyClosed
  }

  mutating func close() -> CloseAction {
    switch state {
    case .ready, .broken:
      state = .closed
      return .closeNow
    case .executing:
      state = .executing(closeRequested: true)
      return .closeWhenStatementEnds
    case .closed:
      return .alreadyClosed
    }
  }

  /// Whether the pool may hand this connection to the next caller.
  var isReusable: Bool { state == .ready }
}
