#!/usr/bin/env bash
# Install advq with its test extras and the example plugin into .venv, then run the tests.
# Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q -e '.[test,ray]'
.venv/bin/pip install -q --no-deps -e plugins/advq-example-plugin
exec .venv/bin/python -m pytest "$@"
