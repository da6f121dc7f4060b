/// How to reach the server and how big the pool is.
public struct PostgresConfiguration: Sendable {
  /// A libpq connection URI or key/value string:
  /// `postgresql://courier_hermes@127.0.0.1:5432/courier` or `host=127.0.0.1 port=5432 dbname=courier`.
  public var connectionString: String
  /// Sent separately so that it stays out of URLs and logs.
  public var password: String?
  public var applicationName: String
  public var connectTimeoutSeconds: Int
  public var pool: Pool

  public struct Pool: Sendable {
    /// The most connections open at once (idle + in use). Also the number of threads that run
    /// blocking libpq calls.
    public var maxConnections: Int
    /// How long `lease` waits for a free connection before failing with `.poolTimeout`.
    public var waitTimeout: Duration

    public init(maxConnections: Int, waitTimeout: Duration) {
      precondition(maxConnections > 0, "a pool needs at least one connection")
      self.maxConnections = maxConnections
      self.waitTimeout = waitTimeout
    }

    public static var defaults: Pool { Pool(maxConnections: 8, waitTimeout: .seconds(5)) }
  }

  public init(
    connectionString: String, password: String? = nil, applicationName: String = "courier",
    connectTimeoutSeconds: Int = 5, pool: Pool = .defaults
  ) {
    self.connectionString = connectionString
    self.password = password
    self.applicationName = applicationName
    self.connectTimeoutSeconds = connectTimeoutSeconds
    self.pool = pool
  }
}
