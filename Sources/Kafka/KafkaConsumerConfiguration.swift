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
    /// as it has records. Tansu reads a fetch's partitions one after the other and answers with
    /// those it read within the wait, so a short wait leaves partitions behind (in
    /// `scripts/bench-pipeline.sh`: p99 0.7 s at 500 ms, 1 s at 150 ms, 2 s at 20 ms).
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
