#!/usr/bin/env bash
# Installs Debian's Chromium for the headless Web UI test, unless it is already there.
# Browsers are never downloaded by a test tool: Playwright drives this system binary.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: /usr/bin/chromium is missing; install Debian's chromium package (needs root)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
echo "install-chromium: $(/usr/bin/chromium --version)" >&2
