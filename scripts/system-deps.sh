#!/usr/bin/env bash
# Install the Debian packages the test suite drives for real, where they are missing.
set -euo pipefail
need=()
# redis-server: the Celery queue tests; chromium: the browser tests (Playwright drives it);
# postgresql: the second run of the suite on a real PostgreSQL server (scripts/postgres.sh).
PACKAGES=${MOTORBAND_DEB_PACKAGES:-redis-server chromium postgresql}
for pkg in $PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
