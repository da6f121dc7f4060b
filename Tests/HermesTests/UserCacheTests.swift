import Generated
@testable import Hermes
import Synchronization
import Testing

@Suite("CachingUserDirectory")
struct UserCacheTests {
  /// Counts lookups; fails while `failing` is set.
  final class CountingDirectory: UserDirectory {
    struct Down: Error {}
    let calls = Mutex(0)
    let failing = Mutex(false)

    func user(id: String) async throws -> Courier_Asgardian_V1_User? {
      calls.withLock { $0 += 1 }
      if failing.withLock({ $0 }) { throw Down() }
      guard id != "nobody" else { return nil }
      var user = Courier_Asgardian_V1_User()
      user.userID = id
      user.email = "\(id)@courier.test"
      return user
    }
  }

  @Test("answers, a missing user included, are reused within the ttl; other ids are asked for")
  func reuses() async throws {
    let base = CountingDirectory()
    let cache = CachingUserDirectory(base, ttl: .seconds(3600))
    for _ in 0..<5 { #expect(try await cache.user(id: "u1")?.email == "u1@courier.test") }
    for _ in 0..<3 { #expect(try await cache.user(id: "nobody") == nil) }
    #expect(try await cache.user(id: "u2")?.userID == "u2")
    #expect(base.calls.withLock { $0 } == 3)
  }

  @Test("with a zero ttl and grace every call asks; failures are never remembered")
  func zeroTTLAndFailures() async throws {
    let base = CountingDirectory()
    let fresh = CachingUserDirectory(base, ttl: .zero, grace: .zero)
    for _ in 0..<3 { _ = try await fresh.user(id: "u1") }
    #expect(base.calls.withLock { $0 } == 3)

    let cache = CachingUserDirectory(base, ttl: .seconds(3600))
    base.failing.withLock { $0 = true }
    await #expect(throws: CountingDirectory.Down.self) { try await cache.user(id: "u9") }
    base.failing.withLock { $0 = false }
    #expect(try await cache.user(id: "u9")?.userID == "u9")
  }

  @Test("past the ttl, within the grace, the old answer is used while Asgardian is asked again")
  func grace() async throws {
    let base = CountingDirectory()
    let cache = CachingUserDirectory(base, ttl: .zero, grace: .seconds(3600))
    #expect(try await cache.user(id: "u1")?.userID == "u1")
    base.failing.withLock { $0 = true }
    #expect(try await cache.user(id: "u1")?.userID == "u1", "Asgardian is down, the old answer serves")
    for _ in 0..<5_000 where base.calls.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(1)) }
    #expect(base.calls.withLock { $0 } == 2, "the stale look-up asked again in the background")
  }

  @Test("a full cache makes room instead of growing")
  func capacity() async throws {
    let base = CountingDirectory()
    let cache = CachingUserDirectory(base, ttl: .seconds(3600), capacity: 4)
    for index in 0..<10 { _ = try await cache.user(id: "u\(index)") }
    // u9 was the last one stored, so it is still there; u0 was dropped when room was made.
    let before = base.calls.withLock { $0 }
    _ = try await cache.user(id: "u9")
    #expect(base.calls.withLock { $0 } == before)
    _ = try await cache.user(id: "u0")
    #expect(base.calls.withLock { $0 } == before + 1)
  }
}
