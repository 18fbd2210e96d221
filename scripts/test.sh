#!/usr/bin/env bash
# Install advq with its test extras and the example plugin into .venv, then run the tests.
# Every package is pinned by constraints.txt (the versions the suite last passed with), so a
# release published tomorrow cannot change what this installs; scripts/test-latest.sh checks
# the newest releases instead. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q -c constraints.txt -e '.[test,ray]'
.venv/bin/pip install -q -c constraints.txt --no-deps -e plugins/advq-example-plugin
exec .venv/bin/python -m pytest "$@"
