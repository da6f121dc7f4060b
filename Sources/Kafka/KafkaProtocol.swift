import NIOCore

/// The Kafka APIs this client speaks, each at its first flexible version (see notes/kafka.md).
enum KafkaAPIKey: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case apiVersions = 18
    case createTopics = 19

    /// The version this client sends.
    var version: Int16 {
        switch self {
        case .produce: 9
        case .fetch: 12
        case .listOffsets: 6
        case .metadata: 9
        case .offsetCommit: 8
        case .offsetFetch: 6
        case .findCoordinator: 3
        case .joinGroup: 6
        case .heartbeat: 4
        case .leaveGroup: 4
        case .syncGroup: 4
        case .apiVersions: 3
        case .createTopics: 5
        }
    }

    var description: String {
        switch self {
        case .produce: "Produce"
        case .fetch: "Fetch"
        case .listOffsets: "ListOffsets"
        case .metadata: "Metadata"
        case .offsetCommit: "OffsetCommit"
        case .offsetFetch: "OffsetFetch"
        case .findCoordinator: "FindCoordinator"
        case .joinGroup: "JoinGroup"
        case .heartbeat: "Heartbeat"
        case .leaveGroup: "LeaveGroup"
        case .syncGroup: "SyncGroup"
        case .apiVersions: "ApiVersions"
        case .createTopics: "CreateTopics"
        }
    }
}

/// A request body. The connection writes the header (v2, or v1 for ApiVersions v0).
protocol KafkaRequest: Sendable {
    associatedtype Response: KafkaResponse
    static var apiKey: KafkaAPIKey { get }
    var apiVersion: Int16 { get }
    func encode(into buffer: inout ByteBuffer)
}

extension KafkaRequest {
    var apiVersion: Int16 { Self.apiKey.version }
    /// Flexible requests use request header v2 (tagged fields after the client id).
    var usesFlexibleHeader: Bool { !(Self.apiKey == .apiVersions && apiVersion < 3) }
    /// ApiVersions responses always use response header v0 (no tagged fields).
    var responseHeaderHasTags: Bool { Self.apiKey != .apiVersions }
}

/// A response body, decoded after the response header.
protocol KafkaResponse: Sendable {
    init(from reader: inout KafkaReader, version: Int16) throws
}
