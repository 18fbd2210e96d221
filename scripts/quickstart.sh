#!/usr/bin/env bash
# Install advq into .venv and adversarially train a small model on the embedded digits (CPU, about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q -e .
.venv/bin/advq train --dataset digits --model mlp --method pgd-at --eps 0.1 --steps 5 --step-size 0.03 \
    --epochs 10 --milestones 8 --device cpu --out runs/quickstart --overwrite
