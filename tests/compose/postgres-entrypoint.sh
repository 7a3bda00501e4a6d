#!/bin/sh
# The PostgreSQL image of the compose test, made from Debian's packages (no image registry
# here): it does what the official image's entrypoint does with POSTGRES_USER, POSTGRES_PASSWORD
# and POSTGRES_DB on a first start, then runs the server.
set -eu
PGDATA=/var/lib/postgresql/data
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
mkdir -p /var/run/postgresql "$PGDATA"
chown postgres:postgres /var/run/postgresql "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    umask 077
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pgpass
    chown postgres /tmp/pgpass
    su postgres -c "$BIN/initdb -D $PGDATA -U $POSTGRES_USER --pwfile=/tmp/pgpass --auth=scram-sha-256" > /dev/null
    rm -f /tmp/pgpass
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    su postgres -c "$BIN/pg_ctl -D $PGDATA -w -o '-c listen_addresses=' start" > /dev/null
    su postgres -c "PGPASSWORD='$POSTGRES_PASSWORD' psql -q -U $POSTGRES_USER -d postgres -h /var/run/postgresql -c 'create database $POSTGRES_DB owner $POSTGRES_USER'"
    su postgres -c "$BIN/pg_ctl -D $PGDATA -w stop" > /dev/null
fi
exec su postgres -c "exec $BIN/postgres -D $PGDATA"
