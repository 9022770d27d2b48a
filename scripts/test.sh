#!/usr/bin/env bash
# Sets up a fresh Debian machine (Node 20, root) and runs every check and test.
# Installs what the tests use: InfluxDB 1.x, Mosquitto's clients (and broker, a benchmark reference),
# Redis (brokers sharing sessions), Chromium for the console's browser tests. The tests start and stop
# those servers themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
missing_norec=()
command -v influxd >/dev/null || missing+=(influxdb)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
# A CJK font, so the console's screenshots show Chinese rather than boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
# Compose's own checker validates docker-compose.yml (no engine needed); without
# --no-install-recommends it would pull in the Docker engine.
command -v docker-compose >/dev/null || missing_norec=(docker-compose)
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_norec[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} ${missing_norec[*]}"
  apt-get update -qq
  [ ${#missing[@]} -gt 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [ ${#missing_norec[@]} -gt 0 ] &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_norec[@]}" >/dev/null
fi

echo "== npm ci"
npm ci --no-audit --no-fund

echo "== typecheck and lint"
npm run check

echo "== tests"
npx vitest run
