#!/usr/bin/env bash
# The main job on the embedded default: install (or reuse) .venv, generate the embedded dataset once,
# train the quickstart model on CPU, evaluate it with COCOEvaluator and print the AP table.
# Extra arguments are config overrides, e.g. `bash tools/quickstart.sh SOLVER.MAX_ITER 100`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="${QUICKSTART_CONFIG:-configs/quickstart/deformable_detr_refine_embedded.yaml}"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" train_net.py --config-file "$CONFIG" "$@"
