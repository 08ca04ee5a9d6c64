#!/bin/sh
# Provisions the headless browser the Web UI test drives (test/integration/web-ui.test.ts):
# Debian's chromium package at /usr/bin/chromium. Idempotent: does nothing when it is there.
# CI calls it before the test suite; it needs root (or sudo) and the Debian package mirrors.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: apt-get not found; install Chromium so that $CHROMIUM exists (Debian/Ubuntu package: chromium)" >&2
  exit 1
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-chromium: run as root, or install sudo" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# fonts-dejavu-core gives the screenshots readable glyphs for the box-drawing characters.
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core

if [ ! -x "$CHROMIUM" ]; then
  echo "install-chromium: the chromium package did not provide $CHROMIUM" >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
