#!/usr/bin/env bash
# Installs what the console's browser tests (tests/all/console.rs) drive: Debian's
# Chromium and its WebDriver, /usr/bin/chromium and /usr/bin/chromedriver. Without them
# those tests skip with a message. Idempotent; needs root (CI runs as root).
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
