/// Every failure the Kafka client reports. The text of each case says what went wrong and,
/// where it can, what to do about it.
public enum KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A response ended before a field could be read (a truncated or malformed frame).
    case truncatedResponse(context: String, field: String)
    /// A response frame larger than the configured maximum.
    case frameTooLarge(size: Int, limit: Int)
    /// A frame whose declared length is negative or otherwise impossible.
    case malformedFrame(String)
    /// A record batch whose CRC32C does not match its contents.
    case corruptBatch(topic: String, partition: Int32, baseOffset: Int64, expectedCRC: UInt32, actualCRC: UInt32)
    /// A record batch compressed with a codec this client does not support yet.
    case unsupportedCompression(topic: String, partition: Int32, baseOffset: Int64, codec: Int)
    /// A record batch with a magic byte other than 2.
    case unsupportedMagic(topic: String, partition: Int32, baseOffset: Int64, magic: Int8)
    /// The broker does not offer a protocol version this client needs.
    case unsupportedVersion(api: String, needed: Int16, brokerMin: Int16?, brokerMax: Int16?)
    /// A connection could not be opened.
    case connectionFailed(broker: String, reason: String)
    /// The connection closed while a request was waiting for its response.
    case connectionClosed(broker: String)
    /// A request got no response in time.
    case requestTimedOut(api: String, broker: String, milliseconds: Int64)
    /// The broker answered with an error code.
    case broker(code: KafkaErrorCode, context: String)
    /// The topic or partition is not known to the cluster.
    case unknownTopicOrPartition(topic: String, partition: Int32?)
    /// A caller passed a value the client cannot use.
    case invalidArgument(String)
    /// The client, producer or consumer was closed.
    case closed(String)
    /// A consumer group operation failed in a way that needs the application's attention.
    case group(String)

    public var description: String {
        switch self {
        case .truncatedResponse(let context, let field):
            "truncated Kafka response: \(context) ended before field '\(field)'"
        case .frameTooLarge(let size, let limit):
            "Kafka frame of \(size) bytes exceeds the limit of \(limit) bytes (maxResponseBytes)"
        case .malformedFrame(let why):
            "malformed Kafka frame: \(why)"
        case .corruptBatch(let topic, let partition, let base, let expected, let actual):
            "corrupt record batch in \(topic)/\(partition) at offset \(base): CRC32C is 0x\(String(actual, radix: 16)) but the batch says 0x\(String(expected, radix: 16))"
        case .unsupportedCompression(let topic, let partition, let base, let codec):
            "record batch in \(topic)/\(partition) at offset \(base) is compressed (codec \(codec)); this client does not support compression yet: disable compression on the producer"
        case .unsupportedMagic(let topic, let partition, let base, let magic):
            "record batch in \(topic)/\(partition) at offset \(base) has magic \(magic); only RecordBatch v2 (magic 2) is supported"
        case .unsupportedVersion(let api, let needed, let min, let max):
            if let min, let max {
                "broker offers \(api) v\(min)-v\(max) but this client needs v\(needed) (Kafka 2.8 or newer is required)"
            } else {
                "broker does not offer \(api); this client needs v\(needed) (Kafka 2.8 or newer is required)"
            }
        case .connectionFailed(let broker, let reason):
            "could not connect to Kafka broker \(broker): \(reason)"
        case .connectionClosed(let broker):
            "connection to Kafka broker \(broker) closed while a request was in flight"
        case .requestTimedOut(let api, let broker, let ms):
            "\(api) request to \(broker) got no response within \(ms) ms"
        case .broker(let code, let context):
            "broker error \(code) in \(context)"
        case .unknownTopicOrPartition(let topic, let partition):
            if let partition { "unknown topic or partition \(topic)/\(partition)" } else { "unknown topic \(topic): create it first (the client never relies on auto-creation)" }
        case .invalidArgument(let why):
            "invalid argument: \(why)"
        case .closed(let what):
            "\(what) is closed"
        case .group(let why):
            "consumer group: \(why)"
        }
    }
}
