#!/usr/bin/env bash
# Installs the agent hosts the real-host tests drive (tests/it/real_hosts/mod.rs) into
# tests/hosts/node_modules, exactly as tests/hosts/package-lock.json pins them,
# unless that install is already there. Needs node and npm, and the npm
# registry once.
set -euo pipefail
cd "$(dirname "$0")/../tests/hosts"
stamp=node_modules/.installed-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
