#!/usr/bin/env bash
# The CUDA check, in one call, for whoever has a GPU: with the machine's own Python and torch (no
# detectron2, no venv needed) it
#   1. builds the op in place (ops/_C*.so in this checkout) for this GPU's architecture only,
#   2. runs tests/ops (fixture, gradcheck, float16/bfloat16 vs float32 and vs the reference,
#      CPU-vs-CUDA equality, the CUDA edge cases; tests/ops imports torch and ops only),
#   3. benchmarks the op against the PyTorch reference on the GPU,
# and prints one summary table. Logs go to $CHECK_CUDA_OUT (default output/check_cuda).
#
#   bash tools/check_cuda.sh            # PYTHON=python3 by default; CUDA_HOME found by torch
#   PYTHON=/opt/py/bin/python CUDA_HOME=/usr/local/cuda bash tools/check_cuda.sh
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
OUT="${CHECK_CUDA_OUT:-$ROOT/output/check_cuda}"
mkdir -p "$OUT"
log() { echo "[check_cuda] $*"; }
status_build="not run"; status_tests="not run"; status_bench="not run"

# 1. The machine: a GPU, torch with CUDA, the architecture to build for, a toolkit.
if ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  log "ERROR: $PY has no torch with a visible CUDA device"; exit 2
fi
DEVICE="$("$PY" -c "import torch; print(torch.cuda.get_device_name())")"
ARCH="$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")"
TORCH="$("$PY" -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda)")"
if [ -z "${CUDA_HOME:-}" ]; then
  CUDA_HOME="$("$PY" -c "from torch.utils.cpp_extension import CUDA_HOME; print(CUDA_HOME or '')" 2>/dev/null)"
  [ -z "$CUDA_HOME" ] && [ -x /usr/local/cuda/bin/nvcc ] && CUDA_HOME=/usr/local/cuda
fi
export CUDA_HOME
log "device $DEVICE (sm $ARCH), torch $TORCH, CUDA_HOME=${CUDA_HOME:-none}"

# 2. Build in place, for this architecture only.
start=$(date +%s)
if FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "$PY" setup.py build_ext --inplace > "$OUT/build.log" 2>&1 \
    && "$PY" -c "import sys, ops; sys.exit(not ops.kernel_available('cuda'))" >> "$OUT/build.log" 2>&1; then
  status_build="ok ($(( $(date +%s) - start ))s, sm $ARCH)"
else
  status_build="FAILED after $(( $(date +%s) - start ))s (see $OUT/build.log)"
  tail -30 "$OUT/build.log"
fi
log "build: $status_build"

# 3. tests/ops, without the suite's conftest (it needs detectron2; the op tests do not).
if [[ "$status_build" == ok* ]]; then
  if "$PY" -c "import pytest" 2>/dev/null; then
    "$PY" -m pytest --noconftest -p no:cacheprovider -q -rfEs tests/ops > "$OUT/tests.log" 2>&1
    status_tests="$(grep -E ' in [0-9.]+s' "$OUT/tests.log" | tail -1 | tr -d '=' | sed 's/^ *//')"
    [ -z "$status_tests" ] && status_tests="no summary (see $OUT/tests.log)"
    grep -E "^(FAILED|ERROR)" "$OUT/tests.log" | head -20
  else
    status_tests="skipped: pytest is not installed for $PY"
  fi
fi
log "tests: $status_tests"

# 4. Benchmark on the GPU (kernel vs reference, float32/float16/bfloat16).
if [[ "$status_build" == ok* ]]; then
  if PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" tools/benchmarks/ms_deform_attn.py --device cuda --dtype float32 float16 bfloat16 --repeats 10 \
      > "$OUT/benchmark.log" 2>&1; then
    status_bench="ok (see $OUT/benchmark.log)"
  else
    status_bench="FAILED (see $OUT/benchmark.log)"
  fi
fi
log "benchmark: $status_bench"

echo
echo "================ CUDA check summary ================"
printf "  %-10s %s\n" "device" "$DEVICE (sm $ARCH)" "torch" "$TORCH" "build" "$status_build" \
  "tests/ops" "$status_tests" "benchmark" "$status_bench"
if [[ "$status_bench" == ok* ]]; then
  echo
  sed -n '/^Summary/,/^$/p' "$OUT/benchmark.log"
fi
[[ "$status_build" == ok* && "$status_tests" == *passed* && "$status_tests" != *failed* \
   && "$status_tests" != *error* && "$status_bench" == ok* ]]
