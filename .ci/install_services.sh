#!/usr/bin/env bash
# Installs the real servers the integration tests start on 127.0.0.1 (Debian packages).
# Idempotent: skips what is already installed. The tests start and stop the servers themselves.
set -euo pipefail
pkgs=(redis-server postgresql-15 docker-registry apache2-utils skopeo swift-proxy swift-object swift-container swift-account chromium
  podman runc protobuf-compiler libprotobuf-dev python3-protobuf python3-yaml)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts some of these as system services on install; the tests run their own instances.
for s in redis-server postgresql docker-registry; do service "$s" stop >/dev/null 2>&1 || true; done
# ruff (for the Airflow DAG check, tests/compile/airflow_test.ts) from the machine's local Python index.
command -v ruff >/dev/null 2>&1 || pip install --quiet ruff >/dev/null 2>&1 || echo "ruff not installed: the AIR check will be skipped"
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
# verdaccio: a real npm registry for tests/plugins/npm_plugins_test.ts, cached outside the repo.
# 6.8.0 is the newest release that runs on Debian 12's Node 20 (6.9+ need Node 22). The override
# replaces verdaccio-audit's `node-fetch@cjs` dist-tag, which some npm mirrors do not serve.
VERDACCIO_VERSION=6.8.0
VERDACCIO_DIR=${FLOWYML_VERDACCIO_DIR:-/opt/flowyml-cache/verdaccio}
if [ ! -f "$VERDACCIO_DIR/node_modules/verdaccio/package.json" ] ||
  ! grep -q "\"version\": \"$VERDACCIO_VERSION\"" "$VERDACCIO_DIR/node_modules/verdaccio/package.json"; then
  echo "installing verdaccio@$VERDACCIO_VERSION into $VERDACCIO_DIR"
  mkdir -p "$VERDACCIO_DIR"
  echo '{"private":true,"overrides":{"node-fetch":"2.7.0"}}' >"$VERDACCIO_DIR/package.json"
  npm install --prefix "$VERDACCIO_DIR" --no-audit --no-fund --loglevel=error \
    "verdaccio@$VERDACCIO_VERSION" >/dev/null
fi
