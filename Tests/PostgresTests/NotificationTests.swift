import Postgres
import Testing

extension IntegrationTests {
  @Suite("LISTEN/NOTIFY")
  struct NotificationTests {
    @Test func notificationsArriveInOrder() async throws {
      try await withPool { pool in
        let channel = uniqueName("events")
        let notifications = try await pool.listen(to: channel)
        try await pool.notify(channel: channel, payload: "one")
        try await pool.withTransaction { tx in
          try await tx.notify(channel: channel, payload: "two")
          try await tx.notify(channel: channel, payload: "three")
        }
        // Rolled back: never delivered.
        struct Abort: Error {}
        _ = try? await pool.withTransaction { tx in
          try await tx.notify(channel: channel, payload: "never")
          throw Abort()
        }
        try await pool.notify(channel: channel, payload: "four")
        var received: [String] = []
        for await notification in notifications {
          #expect(notification.channel == channel)
          received.append(notification.payload)
          if received.count == 4 { break }
        }
        #expect(received == ["one", "two", "three", "four"])
      }
    }

    @Test func severalNotificationsInOneStatementArriveInOrderAtCommit() async throws {
      try await withPool { pool in
        let channel = uniqueName("batch")
        let notifications = try await pool.listen(to: channel)
        struct Abort: Error {}
        _ = try? await pool.withTransaction { tx in
          try tx.notify(channel: channel, payloads: ["lost 1", "lost 2"])
          throw Abort()
        }
        try await pool.withTransaction { tx in
          try tx.notify(channel: channel, payloads: [])  // nothing at all, and no statement
          try tx.notify(channel: channel, payloads: (1...50).map { "fix \($0)" })
          try await tx.notify(channel: channel, payload: "after")
        }
        var received: [String] = []
        for await notification in notifications {
          received.append(notification.payload)
          if received.count == 51 { break }
        }
        #expect(received == (1...50).map { "fix \($0)" } + ["after"])
      }
    }

    @Test func anOversizedPayloadAmongSeveralFailsTheCommit() async throws {
      try await withPool { pool in
        let channel = uniqueName("big")
        await #expect(throws: PostgresError.self) {
          try await pool.withTransaction { tx in
            try tx.notify(channel: channel, payloads: ["fine", String(repeating: "x", count: 9_000)])
          }
        }
        // The pool still serves.
        let rows = try await pool.query("SELECT 1")
        #expect(rows.count == 1)
      }
    }

    @Test func cancellingTheIteratingTaskClosesTheListenerConnection() async throws {
      let application = uniqueName("listener")
      try await withPool(applicationName: application) { pool in
        let channel = uniqueName("bye")
        let listeners: PostgresQuery = """
          SELECT count(*) FROM pg_stat_activity WHERE application_name = \(application) AND query LIKE 'LISTEN%'
          """
        let consumer = Task {
          let notifications = try await pool.listen(to: channel)
          var count = 0
          for await _ in notifications { count += 1 }
          return count
        }
        var open = false
        for _ in 0..<1000 where !open {
          open = try await pool.query(listeners)[0].decode(Int.self, at: 0) == 1
          if !open { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(open, "the listener connection never showed up")
        consumer.cancel()
        _ = try await consumer.value
        var closed = false
        for _ in 0..<1000 where !closed {
          closed = try await pool.query(listeners)[0].decode(Int.self, at: 0) == 0
          if !closed { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(closed, "the listener connection stayed open after its consumer was cancelled")
      }
    }

    @Test func otherChannelsAreNotDelivered() async throws {
      try await withPool { pool in
        let channel = uniqueName("mine")
        let notifications = try await pool.listen(to: channel)
        try await pool.notify(channel: uniqueName("other"), payload: "no")
        try await pool.notify(channel: channel, payload: "yes")
        var iterator = notifications.makeAsyncIterator()
        #expect(await iterator.next()?.payload == "yes")
      }
    }
  }
}
