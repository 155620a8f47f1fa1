#!/usr/bin/env bash
# The test command: install (or reuse) .venv with everything, then run the whole pytest suite.
# Extra arguments go to pytest, e.g. `bash tools/test.sh tests/ops -k gradcheck`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# The tests also check the peer benchmark's weight mapping, which needs its optional dependency
# (Hugging Face transformers); the project itself does not, so only the test command installs it.
BENCH_STAMP="$ROOT/.venv/.benchmark-requirements.sha"
BENCH_SHA="$(sha256sum "$ROOT/tools/benchmarks/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$BENCH_STAMP" 2>/dev/null)" != "$BENCH_SHA" ]; then
  echo "[test.sh] installing the benchmark extra (tools/benchmarks/requirements.txt)"
  "$ROOT/.venv/bin/python" -m pip --disable-pip-version-check -q install -r "$ROOT/tools/benchmarks/requirements.txt"
  echo "$BENCH_SHA" > "$BENCH_STAMP"
fi
exec "$ROOT/.venv/bin/python" -m pytest "${@:-tests}"
