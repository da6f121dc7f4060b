internal import NIOCore

/// The keepalive PINGs of one connection, client or server: a PING goes out once nothing was read
/// from the peer for the keepalive time, so a connection that keeps receiving is never pinged,
/// and the connection is given up when that PING's ACK does not come within the timeout. Lives on
/// the connection's event loop, as its handler does.
final class KeepalivePinger {
  private let keepalive: NGHTTP2ServerTransport.Config.Keepalive
  private let eventLoop: any EventLoop
  /// Submits a PING and flushes it.
  private let ping: () -> Void
  /// Closes the connection: the PING was not answered in time.
  private let timedOut: () -> Void
  private var lastRead = NIODeadline.now()
  private var timer: Scheduled<Void>?
  /// The timeout of the PING awaiting its ACK; cancelled by the ACK.
  private var unanswered: Scheduled<Void>?
  private var stopped = false

  init(
    _ keepalive: NGHTTP2ServerTransport.Config.Keepalive,
    eventLoop: any EventLoop,
    ping: @escaping () -> Void,
    timedOut: @escaping () -> Void
  ) {
    self.keepalive = keepalive
    self.eventLoop = eventLoop
    self.ping = ping
    self.timedOut = timedOut
  }

  func start() {
    self.lastRead = .now()
    self.arm(in: TimeAmount(self.keepalive.time))
  }

  /// Bytes arrived from the peer.
  func read() {
    self.lastRead = .now()
  }

  /// The peer acknowledged a PING.
  func acknowledged() {
    self.unanswered?.cancel()
    self.unanswered = nil
  }

  func stop() {
    self.stopped = true
    self.timer?.cancel()
    self.timer = nil
    self.unanswered?.cancel()
    self.unanswered = nil
  }

  private func arm(in delay: TimeAmount) {
    self.timer = self.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in self?.due() }
  }

  private func due() {
    guard !self.stopped else { return }
    let time = TimeAmount(self.keepalive.time)
    let quiet = NIODeadline.now() - self.lastRead
    if quiet < time {
      self.arm(in: time - quiet)
      return
    }
    if self.unanswered == nil {
      self.ping()
      self.unanswered = self.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(self.keepalive.timeout)) {
        [weak self] in
        guard let self, !self.stopped else { return }
        self.unanswered = nil
        self.timedOut()
      }
    }
    self.arm(in: time)
  }
}
