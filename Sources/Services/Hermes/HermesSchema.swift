public import Postgres

/// Hermes' tables in schema `hermes`, as numbered migrations embedded in the binary. Apply with
/// ``HermesCore/migrate()``; never edit an entry once released, add a new one.
///
/// Statuses are stored as the `DeliveryPayloadStatus` numbers, vehicle kinds as `VehicleKind`
/// numbers. A position is stored as columns (`lat`, `lon`, `accuracy_m`, `speed_mps`,
/// `heading_deg`, `altitude_m`, `recorded_at`) so that it can be queried.
public enum HermesSchema {
  /// The schema every table lives in.
  public static let name = "hermes"

  /// The migrations, in version order.
  public static let migrations: [PostgresMigration] = [
    PostgresMigration(
      version: 1, name: "payloads_deliverers_positions_subscriptions_receipts",
      sql: """
        -- People who carry payloads; each is one Asgardian user with the deliverer role. The last
        -- accepted fix is kept here (the payloads' positions have their own history).
        CREATE TABLE hermes.deliverers (
          id uuid PRIMARY KEY,
          user_id uuid NOT NULL UNIQUE,
          display_name text NOT NULL,
          vehicle_kind smallint NOT NULL DEFAULT 0,
          vehicle_plate text NOT NULL DEFAULT '',
          lat float8, lon float8, accuracy_m float8, speed_mps float8, heading_deg float8, altitude_m float8,
          recorded_at timestamptz,
          last_seen_at timestamptz,
          created_at timestamptz NOT NULL
        );
        CREATE INDEX deliverers_by_name ON hermes.deliverers (display_name, id);

        -- Delivery payloads ("stuff"). `request_id` makes registration safe to retry.
        CREATE TABLE hermes.payloads (
          id uuid PRIMARY KEY,
          tracking_code text NOT NULL UNIQUE,
          title text NOT NULL,
          description text NOT NULL,
          recipient_user_id uuid NOT NULL,
          status smallint NOT NULL,
          deliverer_id uuid REFERENCES hermes.deliverers (id),
          assigned_at timestamptz,
          request_id uuid UNIQUE,
          lat float8, lon float8, accuracy_m float8, speed_mps float8, heading_deg float8, altitude_m float8,
          recorded_at timestamptz,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          receipt_generated_at timestamptz,
          CHECK (status BETWEEN 1 AND 5)
        );
        CREATE INDEX payloads_newest_first ON hermes.payloads (created_at DESC, id DESC);
        CREATE INDEX payloads_by_deliverer ON hermes.payloads (deliverer_id, status);
        CREATE INDEX payloads_by_recipient ON hermes.payloads (recipient_user_id);

        -- What the service reads of a deliverer: the row and how many open payloads it carries.
        CREATE VIEW hermes.deliverer_rows AS
          SELECT d.*, (SELECT count(*) FROM hermes.payloads p
                       WHERE p.deliverer_id = d.id AND p.status IN (1, 2, 3)) AS active_payload_count
          FROM hermes.deliverers d;

        -- Every status a payload entered, oldest first.
        CREATE TABLE hermes.status_history (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          payload_id uuid NOT NULL REFERENCES hermes.payloads (id),
          status smallint NOT NULL,
          changed_at timestamptz NOT NULL,
          changed_by uuid NOT NULL,
          note text NOT NULL DEFAULT ''
        );
        CREATE INDEX status_history_payload ON hermes.status_history (payload_id, seq);

        -- Every assignment change (deliverer_id NULL: unassigned).
        CREATE TABLE hermes.assignments (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          payload_id uuid NOT NULL REFERENCES hermes.payloads (id),
          deliverer_id uuid REFERENCES hermes.deliverers (id),
          assigned_at timestamptz NOT NULL,
          assigned_by uuid NOT NULL
        );
        CREATE INDEX assignments_payload ON hermes.assignments (payload_id, seq);

        -- The payloads' positions, one row per handled DeliveryPayloadChangedLocation.
        CREATE TABLE hermes.payload_positions (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          payload_id uuid NOT NULL REFERENCES hermes.payloads (id),
          event_id uuid NOT NULL,
          deliverer_id uuid,
          lat float8 NOT NULL, lon float8 NOT NULL, accuracy_m float8 NOT NULL, speed_mps float8 NOT NULL,
          heading_deg float8 NOT NULL, altitude_m float8 NOT NULL,
          recorded_at timestamptz NOT NULL,
          stored_at timestamptz NOT NULL,
          UNIQUE (event_id)
        );
        CREATE INDEX payload_positions_payload ON hermes.payload_positions (payload_id, seq);

        -- Who follows which payload, under their own title.
        CREATE TABLE hermes.subscriptions (
          user_id uuid NOT NULL,
          payload_id uuid NOT NULL REFERENCES hermes.payloads (id),
          title text NOT NULL,
          subscribed_at timestamptz NOT NULL,
          PRIMARY KEY (user_id, payload_id)
        );
        CREATE INDEX subscriptions_payload ON hermes.subscriptions (payload_id);

        -- The mail throttle: the last tracking mail per subscriber and payload, and the status it told.
        CREATE TABLE hermes.mail_throttle (
          user_id uuid NOT NULL,
          payload_id uuid NOT NULL REFERENCES hermes.payloads (id),
          last_mailed_at timestamptz NOT NULL,
          last_status smallint NOT NULL,
          PRIMARY KEY (user_id, payload_id)
        );

        -- Rendered receipts: where the PDF is in the bucket.
        CREATE TABLE hermes.receipts (
          payload_id uuid PRIMARY KEY REFERENCES hermes.payloads (id),
          object_key text NOT NULL,
          size_bytes integer NOT NULL,
          generated_at timestamptz NOT NULL
        );
        """),
    PostgresMigration(
      version: 2, name: "destinations_arrival_estimates_devices_notices",
      sql: """
        -- Where a payload is going, and the arrival estimate kept from its deliverer's fixes: the
        -- smoothed speed, the distance and seconds left, the estimated arrival and the fix it came from.
        ALTER TABLE hermes.payloads
          ADD COLUMN dest_lat float8,
          ADD COLUMN dest_lon float8,
          ADD COLUMN smoothed_speed_mps float8,
          ADD COLUMN eta_remaining_m float8,
          ADD COLUMN eta_remaining_s float8,
          ADD COLUMN eta_at timestamptz,
          ADD COLUMN eta_fix_at timestamptz,
          ADD CONSTRAINT payloads_destination_whole CHECK ((dest_lat IS NULL) = (dest_lon IS NULL));

        -- Deliverers' phones that report with the OsmAnd protocol. The device identifier is the
        -- phone's credential: only its SHA-256 (hex) is kept, and its first 4 characters as a hint.
        CREATE TABLE hermes.devices (
          id uuid PRIMARY KEY,
          deliverer_id uuid NOT NULL REFERENCES hermes.deliverers (id),
          label text NOT NULL,
          identifier_sha256 text NOT NULL UNIQUE,
          identifier_hint text NOT NULL,
          created_at timestamptz NOT NULL,
          revoked_at timestamptz,
          last_report_at timestamptz
        );
        CREATE INDEX devices_by_deliverer ON hermes.devices (deliverer_id, created_at DESC);

        -- Notifications sent at most once per subscriber and payload: `arriving`, `delivered`,
        -- `failed`. A row is written in the transaction that asks Iris, so a redelivered event or a
        -- restart never sends one twice.
        CREATE TABLE hermes.once_notices (
          user_id uuid NOT NULL,
          payload_id uuid NOT NULL REFERENCES hermes.payloads (id),
          kind text NOT NULL,
          sent_at timestamptz NOT NULL,
          PRIMARY KEY (user_id, payload_id, kind)
        );
        """),
  ]
}
