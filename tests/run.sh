#!/usr/bin/env bash
# Installs everything the tests need (Python packages, Debian's chromium) and runs every test.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow"` for the fast part alone.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt
exec python -m pytest "$@"
