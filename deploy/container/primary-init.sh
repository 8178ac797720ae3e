#!/bin/bash
# Run once by the postgres image's entrypoint when the primary's data folder is created
# (/docker-entrypoint-initdb.d): the role the standby streams with, and its pg_hba line.
set -euo pipefail
: "${HS_REPLICATION_PASSWORD:?HS_REPLICATION_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$HS_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
