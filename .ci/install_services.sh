#!/usr/bin/env bash
# Installs the real servers the integration tests start on 127.0.0.1 (Debian packages).
# Idempotent: skips what is already installed. The tests start and stop the servers themselves.
set -euo pipefail
pkgs=(redis-server postgresql-15 docker-registry apache2-utils skopeo swift-proxy swift-object swift-container swift-account)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts some of these as system services on install; the tests run their own instances.
for s in redis-server postgresql docker-registry; do service "$s" stop >/dev/null 2>&1 || true; done
