#!/bin/sh
# Runs the real Temporal server (temporal-server on PostgreSQL, not the dev server) for weft's
# cluster suite, its benchmarks, or by hand:
#
#   scripts/cluster.sh start    # PostgreSQL on a private port, schema, server, namespace, search attributes
#   scripts/cluster.sh stop     # stops the server and PostgreSQL; the state folder stays
#   scripts/cluster.sh status   # exit 0 when the frontend answers
#
# Settings (environment):
#   WEFT_CLUSTER_DIR        state folder (default .weft/cluster): PostgreSQL data, logs, pids
#   WEFT_CLUSTER_PORT_BASE  frontend gRPC port (default 17233); the other services use base+1 … base+8,
#                           all <= 32767 because PostgreSQL keeps membership ports in a smallint
#   WEFT_CLUSTER_PG_PORT    PostgreSQL port on 127.0.0.1 (default 15432)
#   WEFT_CLUSTER_NAMESPACE  namespace to create (default "default")
#   WEFT_CLUSTER_TLS_DIR    serve mutual TLS with ca.pem, server.pem, server-key.pem (CN/SAN localhost)
#                           and client.pem, client-key.pem from this folder
#   WEFT_CLUSTER_TUNED=1    apply weft's dev-server tuning (DEV_SERVER_TUNING) as dynamic config; by
#                           default the server runs untuned, as users' servers do
#
# The binaries come from scripts/build-temporal-server.sh (cached), PostgreSQL from Debian's package
# (scripts/install-postgresql.sh), the `temporal` CLI from weft's own setup. The config file is
# scripts/cluster/weft-cluster.yaml. docker-compose.yml runs the same pieces as containers.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${WEFT_CLUSTER_DIR:-$ROOT/.weft/cluster}
BASE=${WEFT_CLUSTER_PORT_BASE:-17233}
PG_PORT=${WEFT_CLUSTER_PG_PORT:-15432}
NAMESPACE=${WEFT_CLUSTER_NAMESPACE:-default}
TLS_DIR=${WEFT_CLUSTER_TLS_DIR:-}
ADDRESS=127.0.0.1:$BASE

die() { echo "cluster: $*" >&2; exit 1; }

if [ "$BASE" -gt 32759 ]; then die "WEFT_CLUSTER_PORT_BASE must be <= 32759 (membership ports are smallints)"; fi

pg_bin() {
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  dirname "$(command -v initdb)" 2>/dev/null || die "PostgreSQL is not installed: run scripts/install-postgresql.sh"
}

# PostgreSQL refuses to run as root; as root it runs as the postgres user of Debian's package.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

temporal_cli() {
  if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then echo "$TEMPORAL_CLI_PATH"; return; fi
  if command -v temporal >/dev/null 2>&1; then command -v temporal; return; fi
  cli="${XDG_CACHE_HOME:-$HOME/.cache}/weft/temporal-v1.5.1/temporal"
  [ -x "$cli" ] || die "the temporal CLI is missing: run node scripts/setup.mjs"
  echo "$cli"
}

# The temporal CLI reads the same TEMPORAL_* variables as weft (envconfig): point it at this server.
cli_env() {
  env -u TEMPORAL_PROFILE -u TEMPORAL_CONFIG_FILE -u TEMPORAL_API_KEY \
    TEMPORAL_ADDRESS="$ADDRESS" \
    ${TLS_DIR:+TEMPORAL_TLS_SERVER_CA_CERT_PATH=$TLS_DIR/ca.pem} \
    ${TLS_DIR:+TEMPORAL_TLS_CLIENT_CERT_PATH=$TLS_DIR/client.pem} \
    ${TLS_DIR:+TEMPORAL_TLS_CLIENT_KEY_PATH=$TLS_DIR/client-key.pem} \
    ${TLS_DIR:+TEMPORAL_TLS_SERVER_NAME=localhost} \
    "$@"
}

frontend_up() {
  cli_env "$(temporal_cli)" operator cluster health --command-timeout 2s >/dev/null 2>&1
}

start() {
  BIN=$("$ROOT/scripts/build-temporal-server.sh")
  PG=$(pg_bin)
  mkdir -p "$DIR"
  if [ -f "$DIR/server.pid" ] && kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null && frontend_up; then
    echo "cluster already running on $ADDRESS"
    return 0
  fi

  # PostgreSQL: a private cluster on 127.0.0.1:$PG_PORT, trust auth for local TCP only.
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$DIR"; then
    die "the postgres user cannot enter $DIR (PostgreSQL refuses to run as root): make its parent folders world-executable, or set WEFT_CLUSTER_DIR elsewhere"
  fi
  if [ ! -f "$DIR/pg/PG_VERSION" ]; then
    mkdir -p "$DIR/pg"
    [ "$(id -u)" -eq 0 ] && chown postgres "$DIR/pg"
    chmod 700 "$DIR/pg"
    as_pg "$PG/initdb" -D "$DIR/pg" -U temporal --auth=trust -E UTF8 >"$DIR/initdb.log" 2>&1 ||
      die "initdb failed: see $DIR/initdb.log"
  fi
  if ! as_pg "$PG/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; then
    : >"$DIR/postgres.log"
    [ "$(id -u)" -eq 0 ] && chown postgres "$DIR/postgres.log"
    as_pg "$PG/pg_ctl" -D "$DIR/pg" -l "$DIR/postgres.log" -w -t 60 \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR/pg -c max_connections=200 -c fsync=off" \
      start >/dev/null || die "PostgreSQL did not start: see $DIR/postgres.log"
  fi

  # Schema: create both databases, then apply every versioned step (idempotent on reruns).
  SQL="$BIN/temporal-sql-tool --plugin postgres12 --ep 127.0.0.1 -p $PG_PORT -u temporal --pw temporal"
  for db in temporal temporal_visibility; do
    $SQL --db $db create-database >>"$DIR/schema.log" 2>&1 || true
  done
  $SQL --db temporal setup-schema -v 0.0 >>"$DIR/schema.log" 2>&1 || true
  $SQL --db temporal update-schema -d "$BIN/schema/postgresql/v12/temporal/versioned" >>"$DIR/schema.log" 2>&1 ||
    die "schema update failed: see $DIR/schema.log"
  $SQL --db temporal_visibility setup-schema -v 0.0 >>"$DIR/schema.log" 2>&1 || true
  $SQL --db temporal_visibility update-schema -d "$BIN/schema/postgresql/v12/visibility/versioned" >>"$DIR/schema.log" 2>&1 ||
    die "visibility schema update failed: see $DIR/schema.log"

  # Dynamic config: empty (a plain server) unless WEFT_CLUSTER_TUNED=1.
  if [ "${WEFT_CLUSTER_TUNED:-}" = 1 ]; then
    node -e '
      const { DEV_SERVER_TUNING } = require(process.argv[1]);
      for (const [k, v] of Object.entries(DEV_SERVER_TUNING)) console.log(`${k}:\n  - value: ${JSON.stringify(v)}`);
    ' "$ROOT/dist/dev-server/dev-server.js" >"$DIR/dynamic-config.yaml"
  else
    : >"$DIR/dynamic-config.yaml"
  fi

  WEFT_CLUSTER_PORT_BASE=$BASE WEFT_CLUSTER_PG_PORT=$PG_PORT WEFT_CLUSTER_TLS_DIR=$TLS_DIR \
    WEFT_CLUSTER_DYNAMIC_CONFIG="$DIR/dynamic-config.yaml" \
    nohup "$BIN/temporal-server" --root / --config "$ROOT/scripts/cluster" --env weft-cluster --allow-no-auth start \
    >"$DIR/server.log" 2>&1 &
  echo $! >"$DIR/server.pid"

  i=0
  until frontend_up; do
    i=$((i + 1))
    kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null || die "temporal-server exited: see $DIR/server.log"
    [ $i -lt 120 ] || die "temporal-server did not answer on $ADDRESS within 60 s: see $DIR/server.log"
    sleep 0.5
  done

  CLI=$(temporal_cli)
  cli_env "$CLI" operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1 ||
    cli_env "$CLI" operator namespace create --namespace "$NAMESPACE" --retention 1d >/dev/null
  # One create per attribute: with several --name flags only the first one is added. Right after
  # namespace creation the server answers "Namespace default is not found" for a few seconds: retry.
  ATTRS=$(node -e '
    const { WEFT_SEARCH_ATTRIBUTES } = require(process.argv[1]);
    console.log(Object.entries(WEFT_SEARCH_ATTRIBUTES).map(([k, t]) => `${k}=${t}`).join(" "));
  ' "$ROOT/dist/search-attributes.js")
  EXISTING=$(cli_env "$CLI" operator search-attribute list --namespace "$NAMESPACE" 2>/dev/null || true)
  for attr in $ATTRS; do
    name=${attr%%=*}
    type=${attr#*=}
    echo "$EXISTING" | grep -qw "$name" && continue
    i=0
    until cli_env "$CLI" operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type" \
      >/dev/null 2>"$DIR/search-attributes.err"; do
      grep -q "already exists" "$DIR/search-attributes.err" && break
      i=$((i + 1))
      [ $i -lt 40 ] || die "could not register search attribute $name: $(tail -1 "$DIR/search-attributes.err")"
      sleep 0.5
    done
  done
  echo "cluster running on $ADDRESS (namespace $NAMESPACE${TLS_DIR:+, mutual TLS}; PostgreSQL on 127.0.0.1:$PG_PORT; state in $DIR)"
}

stop() {
  if [ -f "$DIR/server.pid" ]; then
    pid=$(cat "$DIR/server.pid")
    if kill "$pid" 2>/dev/null; then
      i=0
      while kill -0 "$pid" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.25; i=$((i + 1)); done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/server.pid"
  fi
  if [ -f "$DIR/pg/PG_VERSION" ]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$DIR/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  echo "cluster stopped (state in $DIR)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if frontend_up; then echo "running on $ADDRESS"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: scripts/cluster.sh start|stop|status" >&2; exit 2 ;;
esac
