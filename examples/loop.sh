#!/usr/bin/env bash
# The whole advq loop on a CPU example: profile → curate (20% lowest quality removed, and a
# random control) → train on the full set and on both sets → evaluate → a table and figures.
#
#   bash examples/loop.sh CONFIG_DIR OUT_DIR      e.g. examples/fashion-mnist runs/fashion-mnist
#
# CONFIG_DIR holds profile.yaml, curate.yaml, train.yaml and evaluate.yaml. Every step
# replaces what an earlier loop wrote in OUT_DIR. Overrides (environment):
#   ADVQ, PYTHON       the advq and python executables (default: advq, python3 on PATH)
#   TRAIN_OPTIONS      extra options for profile and train, e.g. "--epochs 2 --milestones="
#   PROFILE_OPTIONS    extra options for profile only, e.g. "--repeats 1"
#   EVAL_OPTIONS       extra options for evaluate, e.g. "--attacks pgd-10 --n-examples 100"
set -euo pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: bash examples/loop.sh CONFIG_DIR OUT_DIR" >&2
    exit 2
fi
config=$1 out=$2
examples=$(cd "$(dirname "$0")" && pwd)
advq=${ADVQ:-advq}
python=${PYTHON:-python3}
read -r -a train_options <<<"${TRAIN_OPTIONS:-}"
read -r -a profile_options <<<"${PROFILE_OPTIONS:-}"
read -r -a eval_options <<<"${EVAL_OPTIONS:-}"
mkdir -p "$out"
start=$SECONDS

step() { echo; echo "== $* ($((SECONDS - start)) s)"; }

step "profile"
"$advq" profile --config "$config/profile.yaml" --out "$out/profile.h5" --overwrite \
    "${train_options[@]}" "${profile_options[@]}"

step "curate"
"$advq" curate "$out/profile.h5" --config "$config/curate.yaml" --overwrite

evaluations=()
for set in full clean80 clean80-random; do
    subset=()
    [[ $set == full ]] || subset=(--subset "$out/profile.h5:$set")
    step "train on $set"
    "$advq" train --config "$config/train.yaml" "${subset[@]}" --out "$out/$set" --overwrite "${train_options[@]}"
    step "evaluate $set"
    "$advq" evaluate "$out/$set/best.pt" --config "$config/evaluate.yaml" --out "$out/$set/evaluation.h5" \
        --overwrite "${eval_options[@]}"
    evaluations+=("$out/$set/evaluation.h5")
done

step "explain: the quality measures against the problem rank"
"$advq" explain correlations "$out/profile.h5" --out-dir "$out/correlations"

step "compare"
"$python" "$examples/compare.py" "${evaluations[@]}" --out-dir "$out"
echo "Done in $((SECONDS - start)) s."
