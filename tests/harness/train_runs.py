"""Run ``train_net.py`` as a real subprocess on the tiny quickstart config (one thread each)."""
import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.harness.fast_config import FAST_OVERRIDES, QUICKSTART, ROOT
from tests.harness.e2e_utils import TINY_OVERRIDES

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def train_net_command(output_dir, overrides=(), flags=()):
    """The command line of a tiny training run writing to ``output_dir``."""
    opts = [str(v) if not isinstance(v, (tuple, list)) else str(tuple(v))
            for v in TINY_OVERRIDES + FAST_OVERRIDES + list(overrides)]
    return [sys.executable, "train_net.py", "--config-file", QUICKSTART, *flags, *opts,
            "OUTPUT_DIR", str(output_dir)]


def environment():
    return {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}


def run_train_net(output_dir, overrides=(), flags=(), timeout=600):
    """Run to completion; raises with the log tail when it fails."""
    result = subprocess.run(train_net_command(output_dir, overrides, flags), cwd=ROOT, env=environment(),
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"train_net.py failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def start_train_net(output_dir, overrides=(), flags=()):
    return subprocess.Popen(train_net_command(output_dir, overrides, flags), cwd=ROOT, env=environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def final_weights(output_dir):
    """The model state dict of ``output_dir/model_final.pth``."""
    return torch.load(Path(output_dir) / "model_final.pth", map_location="cpu", weights_only=True)["model"]
