#!/usr/bin/env bash
# Install advq into .venv, then the whole loop on the embedded 8×8 digits (CPU, a few
# minutes): profile (2 runs) → curate (20% lowest quality removed, and a random control) →
# train on the full set and on both sets → evaluate (PGD-10, AutoAttack) → one table
# (comparison.csv) and figures (comparison.png, correlations/).
#
#   bash scripts/quickstart.sh [OUT_DIR]       (default runs/quickstart)
#
# QUICKSTART_SKIP_INSTALL=1 reuses the installed .venv; the overrides of examples/loop.sh
# (TRAIN_OPTIONS, PROFILE_OPTIONS, EVAL_OPTIONS, ADVQ, PYTHON) pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${QUICKSTART_SKIP_INSTALL:-}" ]]; then
    python3 -m venv .venv
    .venv/bin/pip install -q -c constraints.txt -e .   # the versions the suite last passed with
fi
export ADVQ=${ADVQ:-.venv/bin/advq} PYTHON=${PYTHON:-.venv/bin/python}
exec bash examples/loop.sh examples/digits "${1:-runs/quickstart}"
