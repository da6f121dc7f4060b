/// Consumer settings. `defaults` suit Apache Kafka in production (its minimum session timeout is
/// 6 s); `testing` suits a single local broker.
public struct KafkaConsumerConfiguration: Sendable {
    public enum OffsetReset: Sendable {
        case earliest
        case latest
    }

    /// How the group leader spreads partitions. All members of a group must use the same one.
    public enum Assignor: String, Sendable {
        /// Kafka's range assignor: consecutive partitions per topic.
        case range
        case roundRobin = "roundrobin"
        /// Members keep the partitions they owned if the result stays balanced; only the rest move.
        case sticky
    }

    public var sessionTimeout: Duration = .seconds(10)
    public var heartbeatInterval: Duration = .seconds(3)
    public var rebalanceTimeout: Duration = .seconds(30)
    /// How long the broker may hold a fetch while it has no records. Apache Kafka answers as soon
    /// as it has records; Tansu 0.6.0 (the test broker) looks for them again only every so often,
    /// so a record waits up to about half of a 500 ms wait. Measured on one fresh topic of 12
    /// partitions at about 450 records/s, record to consumer p50 / p99: this consumer 120 / 271 ms
    /// at 500 ms, 19 / 59 ms at 100 ms, 5 / 16 ms at 20 ms (librdkafka 132 / 259, 28 / 57, 7 / 15).
    /// Each of its partition reads lists every batch stored for that partition, so fetches grow
    /// slower as the log grows: in `scripts/bench-pipeline.sh`, where it grows by tens of
    /// thousands of records on 4 partitions, the fix-to-processed p99 was 259–286 ms at 100 ms
    /// (five runs), 290 ms at 50 ms, 463 ms at 20 ms and 360–416 ms at 500 ms. Hermes waits 100 ms.
    public var fetchMaxWait: Duration = .milliseconds(500)
    public var fetchMinBytes: Int32 = 1
    public var fetchMaxBytes: Int32 = 50 * 1024 * 1024
    public var partitionMaxBytes: Int32 = 1024 * 1024
    /// Where to start in a partition that has no committed offset.
    public var offsetReset: OffsetReset = .earliest
    public var assignor: Assignor = .range

    public init() {}

    public static var defaults: Self { Self() }

    /// Fast values for one local broker: session 2 s, heartbeat 300 ms, fetch wait 50 ms.
    public static var testing: Self {
        var c = Self()
        c.sessionTimeout = .seconds(2)
        c.heartbeatInterval = .milliseconds(300)
        c.rebalanceTimeout = .seconds(4)
        c.fetchMaxWait = .milliseconds(50)
        return c
    }
}
