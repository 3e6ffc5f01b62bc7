#!/usr/bin/env bash
# The entrypoint of postgres-replica (compose.cluster.yml), run as root in the postgres image.
# On the first start (no data directory yet) it copies the primary with pg_basebackup through
# the slot replica_1 into a scratch directory, marks the copy a standby and moves it into place,
# so a copy cut short is never started; then it runs postgres with replica.conf
# (primary_conninfo, hot_standby). Starting from a fresh copy again: RUNBOOK.md, "Replica".
set -euo pipefail
: "${KBOSS_REPLICATION_PASSWORD:?set KBOSS_REPLICATION_PASSWORD (in .env, not in git)}"
: "${PGDATA:?PGDATA names the data directory}"

passfile=/var/lib/postgresql/replica.pgpass   # replica.conf's primary_conninfo names it
umask 077
printf 'postgres-primary:5432:*:replicator:%s\n' "$KBOSS_REPLICATION_PASSWORD" > "$passfile"
chown postgres:postgres "$passfile"

parent=$(dirname "$PGDATA")
mkdir -p "$parent"
chown postgres:postgres "$parent"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  scratch="$PGDATA.partial"
  rm -rf "$scratch"
  gosu postgres env PGPASSFILE="$passfile" pg_basebackup \
    --host=postgres-primary --port=5432 --username=replicator --no-password \
    --pgdata="$scratch" --wal-method=stream --slot=replica_1 --checkpoint=fast
  gosu postgres touch "$scratch/standby.signal"
  # The copy carries the primary's postgresql.auto.conf, which waits for replica_1: promoted, this
  # server has no standby until one is attached, so it must not wait for one (the last line wins).
  echo "synchronous_standby_names = ''" >> "$scratch/postgresql.auto.conf"
  mv "$scratch" "$PGDATA"
fi

exec gosu postgres postgres -D "$PGDATA" -c config_file=/etc/postgresql/postgresql.conf
