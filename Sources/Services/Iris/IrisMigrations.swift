import Postgres

/// Iris' schema, as numbered migrations applied at start (`PostgresPool.migrate`). SQL lives here
/// rather than in resource files so that the binary carries it wherever it is copied.
enum IrisMigrations {
  static let schema = "iris"

  static let all: [PostgresMigration] = [
    PostgresMigration(
      version: 1, name: "deliveries-and-push-subscriptions",
      sql: """
        CREATE SCHEMA IF NOT EXISTS iris;

        -- One request to notify one recipient over one channel. The row is written before anything
        -- is sent, so that a crash never loses a request; (channel, idempotency_key) makes a repeated
        -- request find the first one.
        CREATE TABLE iris.deliveries (
          id uuid PRIMARY KEY,
          channel integer NOT NULL CHECK (channel IN (1, 2)),
          status integer NOT NULL CHECK (status BETWEEN 1 AND 5),
          idempotency_key text NOT NULL,
          user_id uuid,
          recipient_address text NOT NULL DEFAULT '',
          recipient_name text NOT NULL DEFAULT '',
          template_name text NOT NULL DEFAULT '',
          summary text NOT NULL,
          mail_text text NOT NULL DEFAULT '',
          mail_html text NOT NULL DEFAULT '',
          mail_message_id text NOT NULL DEFAULT '',
          push_payload text NOT NULL DEFAULT '',
          push_body text NOT NULL DEFAULT '',
          push_url text NOT NULL DEFAULT '',
          push_tag text NOT NULL DEFAULT '',
          push_ttl integer NOT NULL DEFAULT 0,
          push_urgency integer NOT NULL DEFAULT 0,
          attempt_count integer NOT NULL DEFAULT 0,
          last_error text NOT NULL DEFAULT '',
          pushed_subscription_count integer NOT NULL DEFAULT 0,
          subscription_count integer NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          -- PENDING/RETRYING: when a sender may next claim the row. A claim moves it a lease ahead,
          -- so a crashed sender's row is retried once the lease runs out.
          next_attempt_at timestamptz,
          UNIQUE (channel, idempotency_key)
        );
        CREATE INDEX deliveries_newest ON iris.deliveries (created_at DESC, id DESC);
        CREATE INDEX deliveries_user ON iris.deliveries (user_id, created_at DESC);
        CREATE INDEX deliveries_due ON iris.deliveries (next_attempt_at) WHERE status IN (1, 3);

        CREATE TABLE iris.push_subscriptions (
          id uuid PRIMARY KEY,
          user_id uuid NOT NULL,
          endpoint text NOT NULL UNIQUE,
          p256dh text NOT NULL,
          auth text NOT NULL,
          user_agent text NOT NULL DEFAULT '',
          expiration_time timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          last_pushed_at timestamptz
        );
        CREATE INDEX push_subscriptions_user ON iris.push_subscriptions (user_id, created_at DESC);

        -- Per subscription state of a push delivery that still has subscriptions to retry.
        CREATE TABLE iris.push_targets (
          delivery_id uuid NOT NULL REFERENCES iris.deliveries (id) ON DELETE CASCADE,
          subscription_id uuid NOT NULL,
          state integer NOT NULL,  -- 1 waiting, 2 accepted, 3 refused for good
          last_error text NOT NULL DEFAULT '',
          PRIMARY KEY (delivery_id, subscription_id)
        );
        """),
  ]
}
