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
# firebase-tools' Node GCS emulator (used as a library by tests/services/gcs.ts), cached outside the repo.
FIREBASE_TOOLS_VERSION=15.34.2
FIREBASE_DIR=${FLOWYML_FIREBASE_DIR:-/opt/flowyml-cache/firebase-tools}
if [ ! -f "$FIREBASE_DIR/node_modules/firebase-tools/package.json" ] ||
  ! grep -q "\"version\": \"$FIREBASE_TOOLS_VERSION\"" "$FIREBASE_DIR/node_modules/firebase-tools/package.json"; then
  echo "installing firebase-tools@$FIREBASE_TOOLS_VERSION into $FIREBASE_DIR"
  mkdir -p "$FIREBASE_DIR"
  [ -f "$FIREBASE_DIR/package.json" ] || echo '{"private":true}' >"$FIREBASE_DIR/package.json"
  npm install --prefix "$FIREBASE_DIR" --no-audit --no-fund --loglevel=error \
    "firebase-tools@$FIREBASE_TOOLS_VERSION" >/dev/null
fi
