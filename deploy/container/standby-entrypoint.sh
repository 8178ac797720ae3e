#!/bin/bash
# The standby of compose.yaml: on first start, copies the primary with `pg_basebackup -R` (which
# writes standby.signal and primary_conninfo, the replication password included, into the data
# folder, mode 0600) through the replication slot `standby1`, then runs PostgreSQL as a hot
# standby. Re-seeding it means dropping its volume and the slot on the primary:
#   SELECT pg_drop_replication_slot('standby1');
set -euo pipefail
: "${HS_REPLICATION_PASSWORD:?HS_REPLICATION_PASSWORD must be set}"
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  until gosu postgres env PGPASSWORD="$HS_REPLICATION_PASSWORD" pg_basebackup -h db-primary \
      -U replicator -D "$PGDATA" -R -X stream -C -S standby1 --checkpoint=fast; do
    echo "standby: no base backup from the primary yet; retrying in 2 s" >&2
    find "$PGDATA" -mindepth 1 -delete
    sleep 2
  done
fi
# The gateways read from this standby: keep the rows its queries may see (feedback) and let replay
# wait up to 30 s for a conflicting query before cancelling it (docs/deploy.md, "Read replicas").
exec gosu postgres postgres -c hot_standby=on -c hot_standby_feedback=on \
  -c max_standby_streaming_delay=30s
