import Postgres

extension EventStore {
  /// The store's tables, applied by ``EventStore/migrate()`` into the store's schema.
  ///
  /// `events` is the outbox and the history: one row per appended event, `seq` gives the order in
  /// which the relay publishes (and so the order per key). `processed`, `processed_at`, `attempts`
  /// and `last_error` on it are a summary over every consumer group; the authoritative state per
  /// group is `deliveries`, because several services may consume one topic and each must process
  /// an event once. `dead_letters` keeps every record a consumer gave up on, with the error, and
  /// the raw record when it could not be read at all.
  static let migrations: [PostgresMigration] = [
    PostgresMigration(
      version: 1, name: "events",
      sql: """
        CREATE TABLE events (
          seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
          id uuid PRIMARY KEY,
          topic text NOT NULL CHECK (topic <> ''),
          key text NOT NULL,
          type text NOT NULL CHECK (type <> ''),
          producer text NOT NULL,
          payload bytea NOT NULL,
          headers jsonb NOT NULL DEFAULT '{}'::jsonb,
          occurred_at timestamptz NOT NULL,
          appended_at timestamptz NOT NULL DEFAULT clock_timestamp(),
          published_at timestamptz,
          processed boolean NOT NULL DEFAULT false,
          processed_at timestamptz,
          attempts integer NOT NULL DEFAULT 0,
          last_error text
        );
        CREATE INDEX events_unpublished ON events (seq) WHERE published_at IS NULL;
        CREATE INDEX events_type_occurred ON events (type, occurred_at);
        CREATE INDEX events_occurred ON events (occurred_at);

        CREATE TABLE deliveries (
          consumer text NOT NULL,
          event_id uuid NOT NULL,
          status text NOT NULL CHECK (status IN ('processed', 'failed', 'dead')),
          attempts integer NOT NULL DEFAULT 0,
          last_error text,
          processed_at timestamptz,
          updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
          PRIMARY KEY (consumer, event_id)
        );
        CREATE INDEX deliveries_event ON deliveries (event_id);

        CREATE TABLE dead_letters (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          consumer text NOT NULL,
          topic text NOT NULL,
          kafka_partition integer NOT NULL,
          kafka_offset bigint NOT NULL,
          event_id uuid,
          event_type text,
          error text NOT NULL,
          record bytea,
          dead_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE UNIQUE INDEX dead_letters_unreadable ON dead_letters (consumer, topic, kafka_partition, kafka_offset)
          WHERE event_id IS NULL;
        """),
    // An event row is updated twice after its insert: published (a new version, since the
    // unpublished index's predicate changes) and processed. Pages filled to half leave room for
    // those versions beside the row, so the processed mark is a heap-only update: no new entry in
    // the five indexes. Measured at 1,000 events/s: the mark's statement time 3.4 s -> 1.4 s and its
    // WAL 10.5 MB -> 3.1 MB per 15,000 events. The price is heap space, up to twice the rows' size.
    PostgresMigration(
      version: 2, name: "events leave room for their updates",
      sql: "ALTER TABLE events SET (fillfactor = 50);"),
  ]
}
