import Foundation
import Generated
import Logging
import Mail
import Metrics
import WebPush

/// When and how often a failed try is repeated.
struct RetryPolicy: Sendable {
  /// The wait after the first failed try; it doubles with every further try.
  var baseDelay: Duration
  /// The longest wait between two tries.
  var maxDelay: Duration
  /// Tries in all, the first included; then the delivery is FAILED.
  var maxAttempts: Int
  /// How long a claimed try may take before another sender may claim the row again.
  var lease: Duration

  /// The wait after try number `attempt` (1-based) failed, with up to 20 % random jitter so that
  /// many deliveries failing together do not come back together.
  func delay(afterAttempt attempt: Int) -> Duration {
    let exponent = min(max(attempt - 1, 0), 30)
    let base = min(baseDelay.seconds * pow(2, Double(exponent)), maxDelay.seconds)
    return .milliseconds(Int64(base * Double.random(in: 0.8...1.0) * 1000))
  }
}

/// Hands deliveries to their transport and records each try's outcome. The gRPC handlers call
/// `submit` (record, then a first try before answering); the retry worker calls `attempt` for rows
/// whose next try is due. Rows are claimed in the store before a try, so two senders never try
/// the same row at once.
final class DeliverySender: Sendable {
  let store: DeliveryStore
  let subscriptions: PushSubscriptionStore
  let mail: any MailTransport
  let push: WebPushSender?
  /// The From of every mail.
  let from: MailAddress
  let policy: RetryPolicy
  let logger: Logger

  init(
    store: DeliveryStore, subscriptions: PushSubscriptionStore, mail: any MailTransport, push: WebPushSender?,
    from: MailAddress, policy: RetryPolicy, logger: Logger
  ) {
    self.store = store
    self.subscriptions = subscriptions
    self.mail = mail
    self.push = push
    self.from = from
    self.policy = policy
    self.logger = logger
  }

  /// Records a request and makes its first try, or returns the earlier request with the same key.
  func submit(_ new: NewDelivery, id: UUID = UUID()) async throws -> (record: DeliveryRecord, duplicate: Bool) {
    // A push is also announced to the user's open live streams, by a NOTIFY that commits with
    // the row (every Iris process relays it to its own watchers).
    let announcement = new.channel == .push ? new.userID.map { (LiveHub.channel, "\($0.text) \(id.text)") } : nil
    let (record, duplicate) = try await store.insert(new, id: id, lease: policy.lease, notify: announcement)
    if duplicate {
      logger.info("repeated request answered from the log", metadata: [
        "delivery_id": "\(record.id.text)", "idempotency_key": "\(record.idempotencyKey)",
      ])
      return (record, true)
    }
    return (try await attempt(record, first: true), false)
  }

  /// Records push requests and makes their first tries, or returns the earlier requests with the
  /// same keys; answers in the order of `pushes`. The rows and their live NOTIFYs are written in
  /// one statement. A user without push subscriptions has nothing to try: the row is written
  /// SKIPPED straight away, as the first try would have left it. Users with subscriptions get their
  /// first try after the commit, one push after the other.
  ///
  /// Skipped pushes are the common case (most users subscribe no browser), so they are counted
  /// once per call and logged at debug level only: at 1,000 pushes a second they were 94 % of
  /// Iris' log lines.
  func submitPushes(_ pushes: [(new: NewDelivery, id: UUID)]) async throws -> [(record: DeliveryRecord, duplicate: Bool)] {
    let stored = try await store.insertPushes(
      pushes.map { DeliveryStore.NewPush(delivery: $0.new, id: $0.id) }, lease: policy.lease, channel: LiveHub.channel)
    var results: [(record: DeliveryRecord, duplicate: Bool)] = []
    results.reserveCapacity(stored.count)
    var skipped = 0
    for (record, duplicate) in stored {
      if duplicate {
        logger.info("repeated request answered from the log", metadata: [
          "delivery_id": "\(record.id.text)", "idempotency_key": "\(record.idempotencyKey)",
        ])
        results.append((record, true))
      } else if record.status == .skipped {
        skipped += 1
        logger.debug("delivery tried", metadata: [
          "delivery_id": "\(record.id.text)", "status": "skipped", "attempt": "\(record.attemptCount)",
        ])
        results.append((record, false))
      } else {
        results.append((try await attempt(record, first: true), false))
      }
    }
    if skipped > 0 {
      Metrics.Counter(label: "iris_delivery_attempts_total", dimensions: [("channel", "push"), ("outcome", "skipped")])
        .increment(by: skipped)
    }
    return results
  }

  /// Makes one try of a claimed row and writes its outcome.
  func attempt(_ record: DeliveryRecord, first: Bool) async throws -> DeliveryRecord {
    let result: AttemptResult
    switch record.channel {
    case .mail: result = await tryMail(record)
    case .push: result = try await tryPush(record, first: first)
    }
    Metrics.Counter(label: "iris_delivery_attempts_total", dimensions: [
      ("channel", record.channel == .mail ? "mail" : "push"), ("outcome", Self.name(result.status)),
    ]).increment()
    let written = try await store.finish(record.id, result)
    var metadata: Logger.Metadata = [
      "delivery_id": "\(record.id.text)", "status": "\(Self.name(result.status))",
      "attempt": "\(record.attemptCount)",
    ]
    if !result.lastError.isEmpty { metadata["error"] = "\(result.lastError)" }
    logger.log(level: result.status == .failed ? .warning : .info, "delivery tried", metadata: metadata)
    return written
  }

  // MARK: mail

  private func tryMail(_ record: DeliveryRecord) async -> AttemptResult {
    let message = MailMessage(
      from: from,
      to: MailAddress(address: record.recipientAddress, name: record.recipientName),
      subject: record.summary,
      text: record.mailText,
      html: record.mailHTML.isEmpty ? nil : record.mailHTML,
      date: Date(),
      messageID: record.mailMessageID,
      extraHeaders: [(name: "X-Courier-Delivery-Id", value: record.id.text)]
    )
    switch await mail.send(message) {
    case .sent:
      return AttemptResult(status: .sent, lastError: "")
    case .permanent(let reason):
      return AttemptResult(status: .failed, lastError: reason)
    case .transient(let reason):
      return retryOrGiveUp(record, reason: reason, notBefore: nil)
    }
  }

  /// RETRYING with the next try's time, or FAILED when the tries ran out.
  private func retryOrGiveUp(_ record: DeliveryRecord, reason: String, notBefore: Duration?) -> AttemptResult {
    let attempts = Int(record.attemptCount)
    if attempts >= policy.maxAttempts {
      return AttemptResult(status: .failed, lastError: "gave up after \(attempts) tries: \(reason)")
    }
    var wait = policy.delay(afterAttempt: attempts)
    if let notBefore, notBefore > wait { wait = min(notBefore, policy.maxDelay) }
    return AttemptResult(status: .retrying, lastError: reason, retryAt: Date().addingTimeInterval(wait.seconds))
  }

  // MARK: push

  private enum TargetOutcome: Sendable {
    case accepted
    case gone(String)
    case later(String, Duration?)
    case refused(String)
  }

  private func tryPush(_ record: DeliveryRecord, first: Bool) async throws -> AttemptResult {
    guard let userID = record.userID else {
      return AttemptResult(status: .failed, lastError: "push delivery without a user")
    }
    var targets: [StoredPushSubscription]
    var subscriptionCount: Int32? = nil
    if first {
      targets = try await subscriptions.list(userID: userID)
      subscriptionCount = Int32(targets.count)
      guard !targets.isEmpty else {
        return AttemptResult(status: .skipped, lastError: "", pushedSubscriptionCount: 0, subscriptionCount: 0)
      }
      try await store.addTargets(delivery: record.id, subscriptions: targets.map(\.id))
    } else {
      targets = try await store.waitingTargets(delivery: record.id)
    }
    guard let push else {
      return AttemptResult(
        status: .failed, lastError: "web push is not configured on this server (no VAPID key)",
        pushedSubscriptionCount: 0, subscriptionCount: subscriptionCount)
    }

    let payload = Array(record.pushPayload.utf8)
    let urgency = Self.urgency(record.pushUrgency)
    let outcomes = await withTaskGroup(of: (StoredPushSubscription, TargetOutcome).self) { group in
      for target in targets {
        group.addTask {
          let keys: PushSubscriptionKeys
          do {
            keys = try PushSubscriptionKeys(p256dh: target.p256dh, auth: target.auth)
          } catch {
            return (target, .refused("stored keys are unusable: \(error)"))
          }
          let request = WebPushRequest(
            endpoint: target.endpoint, keys: keys, payload: payload, ttlSeconds: Int(record.pushTTL),
            urgency: urgency, topic: record.pushTag.isEmpty ? nil : WebPushRequest.topic(forTag: record.pushTag))
          switch await push.send(request) {
          case .accepted: return (target, .accepted)
          case .gone(let status): return (target, .gone("push service answered \(status): subscription gone"))
          case .retryLater(let reason, let after): return (target, .later(reason, after))
          case .rejected(_, let reason): return (target, .refused(reason))
          }
        }
      }
      var all: [(StoredPushSubscription, TargetOutcome)] = []
      for await outcome in group { all.append(outcome) }
      return all
    }

    var reasons: [String] = []
    var waiting = 0
    var notBefore: Duration? = nil
    for (target, outcome) in outcomes {
      switch outcome {
      case .accepted:
        try await store.markTarget(delivery: record.id, subscription: target.id, state: 2, error: "")
        try await subscriptions.markPushed(id: target.id)
      case .gone(let reason):
        try await store.markTarget(delivery: record.id, subscription: target.id, state: 3, error: reason)
        try await subscriptions.removeGone(id: target.id)
        logger.info("push subscription removed: the push service reported it gone", metadata: [
          "subscription_id": "\(target.id.text)", "delivery_id": "\(record.id.text)",
        ])
        reasons.append(reason)
      case .later(let reason, let after):
        waiting += 1
        if let after { notBefore = max(notBefore ?? .zero, after) }
        reasons.append(reason)
      case .refused(let reason):
        try await store.markTarget(delivery: record.id, subscription: target.id, state: 3, error: reason)
        reasons.append(reason)
      }
    }
    let accepted = try await store.acceptedTargetCount(delivery: record.id)
    let summary = reasons.joined(separator: "; ")
    if accepted > 0 {
      return AttemptResult(
        status: .sent, lastError: summary, pushedSubscriptionCount: accepted, subscriptionCount: subscriptionCount)
    }
    if waiting > 0 {
      var result = retryOrGiveUp(record, reason: summary, notBefore: notBefore)
      result.pushedSubscriptionCount = 0
      result.subscriptionCount = subscriptionCount
      return result
    }
    return AttemptResult(
      status: .failed, lastError: "every subscription refused the message: \(summary)",
      pushedSubscriptionCount: 0, subscriptionCount: subscriptionCount)
  }

  static func urgency(_ stored: Int32) -> PushUrgencyLevel {
    switch Courier_Iris_V1_PushUrgency(rawValue: Int(stored)) {
    case .veryLow: .veryLow
    case .low: .low
    case .high: .high
    default: .normal
    }
  }

  static func name(_ status: Courier_Iris_V1_DeliveryStatus) -> String {
    switch status {
    case .pending: "pending"
    case .sent: "sent"
    case .retrying: "retrying"
    case .failed: "failed"
    case .skipped: "skipped"
    default: "unspecified"
    }
  }
}
