#!/usr/bin/env bash
# Runs once, when postgres-primary initialises an empty data directory (the postgres image runs
# /docker-entrypoint-initdb.d/*.sh as the postgres user, against a server on the local socket):
# the replication user, the replica's slot, the replica's line in pg_hba.conf, and the
# synchronous standby.
set -euo pipefail
: "${KBOSS_REPLICATION_PASSWORD:?set KBOSS_REPLICATION_PASSWORD (in .env, not in git)}"

# ALTER SYSTEM lands in postgresql.auto.conf and takes effect when the image restarts the server
# after this script: here, with no standby yet, a synchronous commit would wait forever.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$KBOSS_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SELECT pg_create_physical_replication_slot('replica_1');
ALTER SYSTEM SET synchronous_standby_names = 'replica_1';
SQL

# Replication connections match no `host all ...` line: the replica's needs its own.
echo 'host replication replicator all scram-sha-256' >> "$PGDATA/pg_hba.conf"
