import Gateway
import Synchronization
import Testing

@Suite("expiring cache: refresh ahead within a grace period")
struct ExpiringCacheTests {
  typealias ManualClock = CachingAuthenticatorTests.ManualClock

  struct Down: Error {}

  /// Answers "v<call number>"; fails while `failing` is set. With `held`, each load waits for one
  /// `release()` before it answers.
  final class Source: Sendable {
    let calls = Mutex(0)
    let failing = Mutex(false)
    private let held: Bool
    private let gate: AsyncStream<Void>
    private let opener: AsyncStream<Void>.Continuation

    init(held: Bool = false) {
      self.held = held
      (gate, opener) = AsyncStream<Void>.makeStream()
    }

    func release() { opener.yield() }

    func load() async throws -> String {
      let call = calls.withLock { calls in
        calls += 1
        return calls
      }
      if held {
        for await _ in gate { break }
      }
      if failing.withLock({ $0 }) { throw Down() }
      return "v\(call)"
    }
  }

  /// Waits (probing every millisecond, at most about 5 s) until `condition` holds; false if it
  /// never did.
  @discardableResult
  func until(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<5_000 {
      if condition() { return true }
      try await Task.sleep(for: .milliseconds(1))
    }
    return condition()
  }

  @Test("past its lifetime an answer is still given and replaced by one background load")
  func refreshAhead() async throws {
    let clock = ManualClock()
    let cache = ExpiringCache<String, String>(now: { clock.now })
    let source = Source(held: true)
    let ask: @Sendable () async throws -> String = { try await cache.value(for: "k", lifetime: { _ in .seconds(5) }, grace: .seconds(5)) { try await source.load() } }

    async let first = ask()
    source.release()
    #expect(try await first == "v1", "nothing cached: the caller waits for the load")
    clock.advance(.seconds(4))
    #expect(try await ask() == "v1")
    #expect(source.calls.withLock { $0 } == 1, "fresh answers cost no load")

    clock.advance(.seconds(2))  // 6 s: stale, within the grace
    for _ in 0..<3 { #expect(try await ask() == "v1", "a stale answer is given at once") }
    try await until { source.calls.withLock { $0 } == 2 }
    #expect(try await ask() == "v1")
    #expect(source.calls.withLock { $0 } == 2, "four stale look-ups start one background load")
    #expect(cache.value(for: "k") == nil, "a stale answer is not fresh")
    source.release()
    #expect(try await until { cache.value(for: "k") == "v2" }, "the background load's answer replaces the stale one")
    #expect(try await ask() == "v2")
    #expect(source.calls.withLock { $0 } == 2)
  }

  @Test("a failed background load keeps the stale answer; past the grace the caller waits and sees the error")
  func failures() async throws {
    let clock = ManualClock()
    let cache = ExpiringCache<String, String>(now: { clock.now })
    let source = Source()
    let ask: @Sendable () async throws -> String = { try await cache.value(for: "k", lifetime: { _ in .seconds(5) }, grace: .seconds(5)) { try await source.load() } }
    #expect(try await ask() == "v1")

    clock.advance(.seconds(6))
    source.failing.withLock { $0 = true }
    #expect(try await ask() == "v1")
    try await until { source.calls.withLock { $0 } == 2 }
    // The failed load cleared its mark (the next look-up starts another one) and stored nothing.
    var retried = false
    for _ in 0..<5_000 {
      #expect(try await ask() == "v1")
      if source.calls.withLock({ $0 }) >= 3 {
        retried = true
        break
      }
      try await Task.sleep(for: .milliseconds(1))
    }
    #expect(retried, "after a failed background load the next stale look-up tries again")

    clock.advance(.seconds(5))  // 11 s: past lifetime and grace
    await #expect(throws: Down.self, "no usable answer: the caller waits for the load and gets its error") {
      try await ask()
    }
    source.failing.withLock { $0 = false }
    let answer = try await ask()
    #expect(answer.hasPrefix("v"), "the next look-up loads again")
    #expect(cache.value(for: "k") == answer)
  }

  @Test("without a grace period an expired answer is loaded again before it is given")
  func noGrace() async throws {
    let clock = ManualClock()
    let cache = ExpiringCache<String, String>(now: { clock.now })
    let source = Source()
    let ask: @Sendable () async throws -> String = { try await cache.value(for: "k", lifetime: { _ in .seconds(5) }, grace: .zero) { try await source.load() } }
    #expect(try await ask() == "v1")
    clock.advance(.seconds(5))
    #expect(try await ask() == "v2")
    #expect(source.calls.withLock { $0 } == 2)
  }
}
