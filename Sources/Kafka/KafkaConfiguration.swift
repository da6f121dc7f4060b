/// Connection settings shared by the producer, the consumer and the admin client.
public struct KafkaConfiguration: Sendable {
    /// A broker to bootstrap from.
    public struct Broker: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { "\(host):\(port)" }
    }

    public var bootstrapServers: [Broker]
    public var clientId: String = "courier"
    public var connectTimeout: Duration = .seconds(10)
    /// How long a request may wait for its response (JoinGroup and SyncGroup wait longer: see the
    /// consumer configuration).
    public var requestTimeout: Duration = .seconds(30)
    /// Responses larger than this are rejected as malformed.
    public var maxResponseBytes: Int = 128 * 1024 * 1024
    /// How often a failed request (connection lost, leader moved) is retried, and the pause before
    /// the first retry (doubled each time).
    public var maxRetries: Int = 8
    public var retryBackoff: Duration = .milliseconds(100)

    public init(bootstrapServers: [Broker]) {
        self.bootstrapServers = bootstrapServers
    }

    /// Parses `host:port[,host:port...]`.
    public init(bootstrap: String) throws {
        var brokers: [Broker] = []
        for part in bootstrap.split(separator: ",") {
            let pieces = part.split(separator: ":")
            guard pieces.count == 2, let port = Int(pieces[1]), port > 0, port < 65536 else {
                throw KafkaError.invalidArgument("bootstrap server '\(part)' is not host:port")
            }
            brokers.append(Broker(host: String(pieces[0]), port: port))
        }
        guard !brokers.isEmpty else { throw KafkaError.invalidArgument("no bootstrap servers given") }
        self.init(bootstrapServers: brokers)
    }
}
