#!/usr/bin/env bash
# Does advq still work with the newest releases of its dependencies? A fresh venv WITHOUT
# constraints.txt (torch and torchvision stay at the pinned 2.14.1 / 0.29.1, the build this
# project runs on), then `advq --help`, a one-epoch `advq train` on digits and the fast tests.
#
#   bash scripts/test-latest.sh            check; the versions it got are in .venv-latest/freeze.txt
#   bash scripts/test-latest.sh --refresh  check, and on success write them to constraints.txt
#
# Extra arguments after --refresh (or alone) go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
refresh=
if [[ "${1:-}" == --refresh ]]; then
    refresh=1
    shift
fi
venv=.venv-latest
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
"$venv/bin/pip" install -q -e '.[test,ray]'
"$venv/bin/pip" install -q --no-deps -e plugins/advq-example-plugin
"$venv/bin/pip" freeze --exclude-editable | grep -v '^pip==' >"$venv/freeze.txt"
echo "== the newest versions it got (in $venv/freeze.txt):"
grep -i -E '^(typer|rich|pluggy|h5py|numpy|scipy|scikit-learn|matplotlib|pyautoattack|pillow|pyyaml|pytest|hypothesis|deptry)==' "$venv/freeze.txt"
echo "== advq --help"
"$venv/bin/advq" --help >/dev/null
echo "== one epoch of advq train on digits"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$venv/bin/advq" train --dataset digits --model mlp --epochs 1 --milestones= --eps 0.1 --steps 2 --step-size 0.05 \
    --device cpu --out "$out/run"
echo "== the fast tests"
"$venv/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider "$@"
if [[ -n "$refresh" ]]; then
    {
        echo "# The versions the suite last passed with (written by scripts/test-latest.sh --refresh on $(date -u +%F))."
        echo "# scripts/test.sh and scripts/quickstart.sh install through this file: pip install -c constraints.txt ..."
        cat "$venv/freeze.txt"
    } >constraints.txt
    echo "constraints.txt refreshed."
fi
