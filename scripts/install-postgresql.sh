#!/bin/sh
# Provisions PostgreSQL for the cluster suite (scripts/cluster.sh): Debian's `postgresql` package.
# Idempotent: does nothing when initdb, pg_ctl and postgres are there. Needs root (or sudo) and the
# Debian package mirrors only when it has to install.
set -eu

find_pg_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return 0
  fi
  return 1
}

if dir=$(find_pg_bin); then
  echo "postgresql already installed: $("$dir/postgres" --version)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-postgresql: apt-get not found; install PostgreSQL (Debian/Ubuntu package: postgresql)" >&2
  exit 1
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-postgresql: run as root, or install sudo" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends postgresql
dir=$(find_pg_bin) || { echo "install-postgresql: the postgresql package did not provide initdb/pg_ctl" >&2; exit 1; }
echo "postgresql installed: $("$dir/postgres" --version)"
