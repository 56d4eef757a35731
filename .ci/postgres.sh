#!/usr/bin/env bash
# Install Debian's PostgreSQL, start a throw-away server on 127.0.0.1 only, create a
# database and a user for effobj's Optuna storage tests, and print the storage URL.
#
# Usage (as root, e.g. from .ci/run):
#     eval "$(.ci/postgres.sh)"        # exports EFFOBJ_PG_URL in the calling shell
#     .ci/postgres.sh stop             # stops the server again
#
# Everything but the final `export EFFOBJ_PG_URL=...` line goes to stderr, so the
# output can be eval'ed. Idempotent: a second call reuses the running server.
# Settings (environment): EFFOBJ_PG_PORT (55432), EFFOBJ_PG_DIR (/tmp/effobj-pg),
# EFFOBJ_PG_DB / EFFOBJ_PG_USER (effobj), EFFOBJ_PG_PASSWORD (effobj).
set -euo pipefail

PORT="${EFFOBJ_PG_PORT:-55432}"
DIR="${EFFOBJ_PG_DIR:-/tmp/effobj-pg}"
DB="${EFFOBJ_PG_DB:-effobj}"
DBUSER="${EFFOBJ_PG_USER:-effobj}"
PASSWORD="${EFFOBJ_PG_PASSWORD:-effobj}"
SOCKDIR="$DIR/socket"

log() { echo "postgres.sh: $*" >&2; }

pg_bin() {
    # newest installed major version's binaries
    local d
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] || { log "no PostgreSQL binaries under /usr/lib/postgresql"; exit 1; }
    echo "$d"
}

as_pg() {
    # run a command as the unprivileged 'postgres' system user (the server refuses root)
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-start}" = stop ]; then
    BIN="$(pg_bin)"
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >&2 || true
    exit 0
fi

if ! dpkg -s postgresql >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
fi
BIN="$(pg_bin)"

mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; fi
if [ ! -f "$DIR/data/PG_VERSION" ]; then
    log "initialising a cluster in $DIR/data"
    as_pg mkdir -p "$SOCKDIR"
    pwfile="$DIR/pw"
    printf '%s\n' "$PASSWORD" > "$pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$pwfile"; fi
    as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --pwfile="$pwfile" >&2
    rm -f "$pwfile"
fi

if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    log "starting the server on 127.0.0.1:$PORT"
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $SOCKDIR -c max_connections=200" start >&2
fi

psql_admin() { as_pg "$BIN/psql" -h "$SOCKDIR" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DBUSER'")" != 1 ]; then
    psql_admin -c "CREATE ROLE \"$DBUSER\" LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE \"$DB\" OWNER \"$DBUSER\"" >&2
fi

URL="postgresql+psycopg2://$DBUSER:$PASSWORD@127.0.0.1:$PORT/$DB"
# check the URL itself over TCP, as the tests will use it
PGPASSWORD="$PASSWORD" "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$DBUSER" -d "$DB" -qAt -c "SELECT 1" >/dev/null
log "ready: $URL"
echo "export EFFOBJ_PG_URL=$URL"
