/// An error code from a Kafka response. Codes this client does not know are kept as numbers and
/// treated as non-retriable.
public struct KafkaErrorCode: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int16

    public init(_ rawValue: Int16) { self.rawValue = rawValue }

    public static let none = KafkaErrorCode(0)
    public static let offsetOutOfRange = KafkaErrorCode(1)
    public static let corruptMessage = KafkaErrorCode(2)
    public static let unknownTopicOrPartition = KafkaErrorCode(3)
    public static let leaderNotAvailable = KafkaErrorCode(5)
    public static let notLeaderOrFollower = KafkaErrorCode(6)
    public static let requestTimedOut = KafkaErrorCode(7)
    public static let networkException = KafkaErrorCode(13)
    public static let coordinatorLoadInProgress = KafkaErrorCode(14)
    public static let coordinatorNotAvailable = KafkaErrorCode(15)
    public static let notCoordinator = KafkaErrorCode(16)
    public static let notEnoughReplicas = KafkaErrorCode(19)
    public static let notEnoughReplicasAfterAppend = KafkaErrorCode(20)
    public static let illegalGeneration = KafkaErrorCode(22)
    public static let inconsistentGroupProtocol = KafkaErrorCode(23)
    public static let unknownMemberId = KafkaErrorCode(25)
    public static let invalidSessionTimeout = KafkaErrorCode(26)
    public static let rebalanceInProgress = KafkaErrorCode(27)
    public static let unsupportedVersion = KafkaErrorCode(35)
    public static let topicAlreadyExists = KafkaErrorCode(36)
    public static let invalidPartitions = KafkaErrorCode(37)
    public static let memberIdRequired = KafkaErrorCode(79)
    public static let fencedLeaderEpoch = KafkaErrorCode(74)
    public static let unknownLeaderEpoch = KafkaErrorCode(75)

    static let names: [Int16: String] = [
        -1: "UNKNOWN_SERVER_ERROR", 0: "NONE", 1: "OFFSET_OUT_OF_RANGE", 2: "CORRUPT_MESSAGE",
        3: "UNKNOWN_TOPIC_OR_PARTITION", 4: "INVALID_FETCH_SIZE", 5: "LEADER_NOT_AVAILABLE",
        6: "NOT_LEADER_OR_FOLLOWER", 7: "REQUEST_TIMED_OUT", 8: "BROKER_NOT_AVAILABLE",
        9: "REPLICA_NOT_AVAILABLE", 10: "MESSAGE_TOO_LARGE", 12: "OFFSET_METADATA_TOO_LARGE",
        13: "NETWORK_EXCEPTION", 14: "COORDINATOR_LOAD_IN_PROGRESS", 15: "COORDINATOR_NOT_AVAILABLE",
        16: "NOT_COORDINATOR", 17: "INVALID_TOPIC_EXCEPTION", 18: "RECORD_LIST_TOO_LARGE",
        19: "NOT_ENOUGH_REPLICAS", 20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND", 21: "INVALID_REQUIRED_ACKS",
        22: "ILLEGAL_GENERATION", 23: "INCONSISTENT_GROUP_PROTOCOL", 24: "INVALID_GROUP_ID",
        25: "UNKNOWN_MEMBER_ID", 26: "INVALID_SESSION_TIMEOUT", 27: "REBALANCE_IN_PROGRESS",
        28: "INVALID_COMMIT_OFFSET_SIZE", 29: "TOPIC_AUTHORIZATION_FAILED", 30: "GROUP_AUTHORIZATION_FAILED",
        35: "UNSUPPORTED_VERSION", 36: "TOPIC_ALREADY_EXISTS", 37: "INVALID_PARTITIONS",
        38: "INVALID_REPLICATION_FACTOR", 41: "NOT_CONTROLLER", 42: "INVALID_REQUEST",
        74: "FENCED_LEADER_EPOCH", 75: "UNKNOWN_LEADER_EPOCH", 79: "MEMBER_ID_REQUIRED",
    ]

    /// Retrying the same request after a metadata refresh and a backoff may succeed.
    public var isRetriable: Bool {
        switch rawValue {
        case 3, 5, 6, 7, 13, 14, 15, 16, 19, 20, 74, 75: true
        default: false
        }
    }

    /// The error means the client's view of leaders is stale.
    var needsMetadataRefresh: Bool {
        switch rawValue {
        case 3, 5, 6, 74, 75: true
        default: false
        }
    }

    public var description: String {
        if let name = Self.names[rawValue] { return "\(rawValue) \(name)" }
        return "\(rawValue) (unknown error code)"
    }
}
