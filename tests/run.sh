#!/usr/bin/env bash
# Installs everything the tests need (Python packages, Debian's chromium and postgresql) and runs every test.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -m "not slow"` for the fast part alone.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# the tests start their own throwaway PostgreSQL cluster (tests/pg_cluster.py); only the programs are needed
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-test.txt
# three workers on two cores: most tests wait on loopback servers and child processes, not on the CPU
exec python -m pytest -n "${PEXXERO_TEST_WORKERS:-3}" --dist worksteal "$@"
