/// Producer settings. `defaults` suits production (acks=all).
public struct KafkaProducerConfiguration: Sendable {
    public enum Acks: Int16, Sendable {
        case leader = 1
        case all = -1
    }

    /// How long a batch waits for more records before it is sent.
    public var linger: Duration = .milliseconds(5)
    /// The most bytes one partition's batch may hold.
    public var batchBytes: Int = 1024 * 1024
    public var acks: Acks = .all
    /// How long the broker may take to reach the acks.
    public var ackTimeout: Duration = .seconds(30)
    /// How often a batch that failed with a retriable error is sent again.
    public var maxRetries: Int = 10
    public var retryBackoff: Duration = .milliseconds(100)

    public init() {}

    public static var defaults: Self { Self() }
}
