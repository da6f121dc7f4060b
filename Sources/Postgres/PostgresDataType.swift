/// A Postgres type, identified by its OID.
public struct PostgresDataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  public static let bool = Self(rawValue: 16)
  public static let bytea = Self(rawValue: 17)
  public static let name = Self(rawValue: 19)
  public static let int8 = Self(rawValue: 20)
  public static let int2 = Self(rawValue: 21)
  public static let int4 = Self(rawValue: 23)
  public static let text = Self(rawValue: 25)
  public static let oid = Self(rawValue: 26)
  public static let json = Self(rawValue: 114)
  public static let float4 = Self(rawValue: 700)
  public static let float8 = Self(rawValue: 701)
  public static let bpchar = Self(rawValue: 1042)
  public static let varchar = Self(rawValue: 1043)
  public static let timestamp = Self(rawValue: 1114)
  public static let timestamptz = Self(rawValue: 1184)
  public static let uuid = Self(rawValue: 2950)
  public static let jsonb = Self(rawValue: 3802)
  /// Lets the server infer the parameter's type from the statement.
  public static let unspecified = Self(rawValue: 0)

  public var description: String {
    switch self {
    case .bool: "bool"
    case .bytea: "bytea"
    case .name: "name"
    case .int8: "bigint"
    case .int2: "smallint"
    case .int4: "integer"
    case .text: "text"
    case .oid: "oid"
    case .json: "json"
    case .float4: "real"
    case .float8: "double precision"
    case .bpchar: "char"
    case .varchar: "varchar"
    case .timestamp: "timestamp"
    case .timestamptz: "timestamptz"
    case .uuid: "uuid"
    case .jsonb: "jsonb"
    default: "oid \(rawValue)"
    }
  }
}
