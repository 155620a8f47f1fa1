#!/usr/bin/env bash
# The test command: install (or reuse) .venv with everything, then run the whole pytest suite.
# Extra arguments go to pytest, e.g. `bash tools/test.sh tests/ops -k gradcheck`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "${@:-tests}"
