package import Generated

/// The three roles as the proto enum and as the lowercase names that tokens, the database and the
/// REST access rules use.
package enum Roles {
  /// `user`, `admin`, `deliverer` for the known roles; nil for ROLE_UNSPECIFIED and unknown values.
  package static func name(_ role: Courier_Asgardian_V1_Role) -> String? {
    switch role {
    case .user: "user"
    case .admin: "admin"
    case .deliverer: "deliverer"
    default: nil
    }
  }

  /// The enum value of a stored name; nil for names this version does not know.
  package static func role(named name: String) -> Courier_Asgardian_V1_Role? {
    switch name {
    case "user": .user
    case "admin": .admin
    case "deliverer": .deliverer
    default: nil
    }
  }

  /// Names to enum values without duplicates, in ascending enum order (as the proto promises).
  package static func roles(_ names: some Sequence<String>) -> [Courier_Asgardian_V1_Role] {
    Set(names.compactMap(role(named:))).sorted { $0.rawValue < $1.rawValue }
  }

  /// Enum values to names in ascending enum order.
  package static func names(_ roles: some Sequence<Courier_Asgardian_V1_Role>) -> [String] {
    Set(roles).sorted { $0.rawValue < $1.rawValue }.compactMap(name)
  }
}
