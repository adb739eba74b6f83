#!/usr/bin/env bash
# Installs the Python blemees-peer 0.1.0 into .ci/py01 (a virtualenv kept out of
# git) unless it is already there. The compatibility tests find its binaries via
# tests/it/support/py01.rs (BLEMEES_PY01_BIN, default .ci/py01/bin).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x py01/bin/blemees-peer-mcp ]; then
  python3 -m venv py01
  py01/bin/pip install --quiet --disable-pip-version-check blemees-peer==0.1.0
fi
