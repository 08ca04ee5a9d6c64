#!/bin/sh
# Builds the real Temporal server (`temporal-server`, go.temporal.io/server cmd/server) and its SQL
# schema tool (`temporal-sql-tool`, cmd/tools/sql) from the wrapper module in scripts/temporal-server/,
# at the server version the CLI's dev server embeds, and copies the PostgreSQL schema next to them.
# Output, cached like the CLI build: ${XDG_CACHE_HOME:-~/.cache}/weft/temporal-server-v1.29.1/.
# Idempotent: does nothing when both binaries and the schema are there. Prints the folder.
set -eu

VERSION=1.29.1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/weft/temporal-server-v$VERSION"

if [ -x "$CACHE/temporal-server" ] && [ -x "$CACHE/temporal-sql-tool" ] && [ -d "$CACHE/schema/postgresql/v12/temporal" ]; then
  echo "$CACHE"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-temporal-server: Go is not installed; install it (https://go.dev/dl/) to build the Temporal server" >&2
  exit 1
fi
mkdir -p "$CACHE"
cd "$ROOT/scripts/temporal-server"
echo "building temporal-server v$VERSION and temporal-sql-tool into $CACHE (first run only)…" >&2
started=$(date +%s)
# -mod=mod: the wrapper's go.sum is committed; the go.mod may be rewritten by a newer toolchain.
GOFLAGS=-mod=mod go build -o "$CACHE/temporal-server.tmp" go.temporal.io/server/cmd/server
GOFLAGS=-mod=mod go build -o "$CACHE/temporal-sql-tool.tmp" go.temporal.io/server/cmd/tools/sql
MODULE_DIR=$(GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' go.temporal.io/server)
rm -rf "$CACHE/schema"
mkdir -p "$CACHE/schema/postgresql"
cp -R "$MODULE_DIR/schema/postgresql/v12" "$CACHE/schema/postgresql/v12"
chmod -R u+w "$CACHE/schema"
mv "$CACHE/temporal-server.tmp" "$CACHE/temporal-server"
mv "$CACHE/temporal-sql-tool.tmp" "$CACHE/temporal-sql-tool"
echo "built in $(( $(date +%s) - started )) s" >&2
echo "$CACHE"
