#!/usr/bin/env bash
# The main job on the embedded default: install (or reuse) .venv, generate the embedded dataset and
# pretrain the embedded ResNet-18 trunk once (both cached; MODEL.WEIGHTS "embedded-trunk://R-18.pkl"
# makes the trunk on first use), train the quickstart model on CPU from that trunk, evaluate it with
# COCOEvaluator and print the AP table; train_net.py's last lines then say where the model, metrics,
# curves and detections are, the recall at score >= 0.5, and the demo and recall commands to run next.
# Extra arguments are config overrides, e.g. `bash tools/quickstart.sh SOLVER.MAX_ITER 100`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="${QUICKSTART_CONFIG:-configs/embedded_pretrained/main_job.yaml}"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" train_net.py --config-file "$CONFIG" "$@"
