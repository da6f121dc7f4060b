#!/bin/bash
# Runs once, when the compose Postgres starts on an empty volume: the courier database, one login
# role per service owning its schema, and the event store's role (the services that produce or
# consume events are its members), as scripts/courier_stack.py sets up the local stack.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -c "CREATE DATABASE courier"
for role in asgardian iris hermes event_source; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname courier \
    -v role="$role" -v password="$COURIER_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
GRANT CONNECT, CREATE ON DATABASE courier TO :"role";
CREATE SCHEMA :"role" AUTHORIZATION :"role";
SQL
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname courier <<'SQL'
GRANT event_source TO asgardian, hermes;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
