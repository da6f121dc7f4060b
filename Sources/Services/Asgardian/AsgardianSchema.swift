public import Postgres

/// Asgardian's tables in schema `asgardian`, as numbered migrations embedded in the binary (no
/// resource bundle to ship). Apply with `pool.migrate(schema: AsgardianSchema.name, migrations:
/// AsgardianSchema.migrations)`; never edit an entry once released, add a new one.
public enum AsgardianSchema {
  /// The schema every table lives in.
  public static let name = "asgardian"

  /// The migrations, in version order.
  public static let migrations: [PostgresMigration] = [
    PostgresMigration(
      version: 1, name: "users_sessions_tokens",
      sql: """
        -- One row per account. A deleted account keeps its id and timestamps; its personal data is
        -- erased (email NULL, display name and phone empty, no password).
        CREATE TABLE asgardian.users (
          id uuid PRIMARY KEY,
          email text,
          display_name text NOT NULL DEFAULT '',
          phone_number text NOT NULL DEFAULT '',
          roles text[] NOT NULL,
          tracking_mail_enabled boolean NOT NULL DEFAULT true,
          tracking_push_enabled boolean NOT NULL DEFAULT true,
          disabled boolean NOT NULL DEFAULT false,
          deleted boolean NOT NULL DEFAULT false,
          password_hash text,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          last_login_at timestamptz,
          CHECK (deleted OR (email IS NOT NULL AND password_hash IS NOT NULL))
        );
        -- Unique among active accounts, compared case-insensitively.
        CREATE UNIQUE INDEX users_email_active ON asgardian.users (lower(email)) WHERE NOT deleted;
        CREATE INDEX users_newest_first ON asgardian.users (created_at DESC, id DESC);
        -- What the service reads: roles as comma-separated text (the driver has no array codec).
        CREATE VIEW asgardian.user_rows AS
          SELECT id, email, display_name, phone_number, array_to_string(roles, ',') AS roles,
                 tracking_mail_enabled, tracking_push_enabled, disabled, deleted, password_hash,
                 created_at, updated_at, last_login_at
          FROM asgardian.users;

        -- A session: one login and every refresh that follows from it (a refresh-token family).
        -- Access tokens carry its id, so revoking it rejects them at once.
        CREATE TABLE asgardian.sessions (
          id uuid PRIMARY KEY,
          user_id uuid NOT NULL REFERENCES asgardian.users (id),
          created_at timestamptz NOT NULL,
          revoked_at timestamptz,
          revoked_reason text
        );
        CREATE INDEX sessions_user ON asgardian.sessions (user_id) WHERE revoked_at IS NULL;

        -- Refresh tokens, stored as their SHA-256 only. `used_at` is set when the token is rotated;
        -- presenting it again revokes its session (reuse detection).
        CREATE TABLE asgardian.refresh_tokens (
          token_hash bytea PRIMARY KEY,
          session_id uuid NOT NULL REFERENCES asgardian.sessions (id),
          issued_at timestamptz NOT NULL,
          expires_at timestamptz NOT NULL,
          used_at timestamptz
        );
        CREATE INDEX refresh_tokens_session ON asgardian.refresh_tokens (session_id);

        -- Password reset tokens, stored as their SHA-256 only; single use.
        CREATE TABLE asgardian.recovery_tokens (
          id uuid PRIMARY KEY,
          token_hash bytea NOT NULL UNIQUE,
          user_id uuid NOT NULL REFERENCES asgardian.users (id),
          created_at timestamptz NOT NULL,
          expires_at timestamptz NOT NULL,
          used_at timestamptz
        );
        CREATE INDEX recovery_tokens_user ON asgardian.recovery_tokens (user_id);
        """),
  ]
}
