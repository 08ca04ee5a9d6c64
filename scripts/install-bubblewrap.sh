#!/bin/sh
# Provisions the Bash sandbox (src/activities/tools/sandbox.ts): Debian's bubblewrap package at
# /usr/bin/bwrap. Idempotent: does nothing when it is there. It needs root (or sudo) and the Debian
# package mirrors; without it weft still runs, with Bash unconfined and a warning.
set -eu

BWRAP=/usr/bin/bwrap

if [ -x "$BWRAP" ]; then
  echo "bubblewrap already installed: $("$BWRAP" --version 2>/dev/null || echo "$BWRAP")"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-bubblewrap: apt-get not found; install bubblewrap so that $BWRAP exists (Debian/Ubuntu package: bubblewrap)" >&2
  exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-bubblewrap: run as root, or install sudo" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends bubblewrap

if [ ! -x "$BWRAP" ]; then
  echo "install-bubblewrap: the bubblewrap package did not provide $BWRAP" >&2
  exit 1
fi
echo "bubblewrap installed: $("$BWRAP" --version 2>/dev/null || echo "$BWRAP")"
