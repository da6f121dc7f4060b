@testable import Hermes
import Testing

@Suite("BatchHandOver")
struct BatchHandOverTests {
  @Test("the taker gets everything that waits, in order; the giver waits at capacity")
  func batchesAndBackPressure() async throws {
    let handOver = BatchHandOver<Int>(capacity: 4)
    for value in 0..<4 { #expect(await handOver.give(value)) }
    // A fifth gift waits until the taker makes room.
    let fifth = Task { await handOver.give(4) }
    #expect(try await handOver.take() == [0, 1, 2, 3])
    #expect(await fifth.value)
    #expect(try await handOver.take() == [4])
    handOver.finish()
    #expect(try await handOver.take() == nil)
  }

  @Test("a waiting taker wakes for one element; a failure comes after the elements before it")
  func failureAfterElements() async throws {
    struct Broken: Error, Equatable {}
    let handOver = BatchHandOver<String>(capacity: 8)
    let taker = Task { try await handOver.take() }
    #expect(await handOver.give("first"))
    #expect(try await taker.value == ["first"])
    #expect(await handOver.give("second"))
    handOver.finish(throwing: Broken())
    #expect(try await handOver.take() == ["second"])
    await #expect(throws: Broken.self) { try await handOver.take() }
  }

  @Test("closing releases a waiting giver and refuses later gifts")
  func closeReleasesGiver() async throws {
    let handOver = BatchHandOver<Int>(capacity: 1)
    #expect(await handOver.give(1))
    let blocked = Task { await handOver.give(2) }
    handOver.close()
    #expect(await blocked.value == false)
    #expect(await handOver.give(3) == false)
  }
}
