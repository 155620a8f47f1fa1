"""A tool starts without Detectron2's import-time deprecation warnings (issue 24, item 2): demo.py
imports Detectron2's video visualizer, which is why it must import ``projects`` first."""
import subprocess
import sys

from tests.harness.train_runs import environment
from tests.tools.tool_utils import ROOT


def test_demo_help_prints_no_known_deprecation_warning(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "demo.py"), "--help"], cwd=tmp_path,
                          env=environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "usage: demo.py" in done.stdout
    assert "torch.jit.script" not in done.stderr and "FutureWarning" not in done.stderr
