"""The scripts (train_net.py, tools/) import the installed packages: no sys.path edits, nothing
imported from train_net.py, and each one starts from a directory outside the checkout."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.tools.tool_utils import ROOT

SCRIPTS = sorted([ROOT / "train_net.py", *(ROOT / "tools").rglob("*.py")])
RUN_HELP = textwrap.dedent("""
    import contextlib, io, runpy, sys
    for script in sys.argv[1:]:
        sys.argv = [script, "--help"]
        with contextlib.redirect_stdout(io.StringIO()) as out:
            try:
                runpy.run_path(script, run_name="__main__")
            except SystemExit as done:
                assert done.code in (0, None), (script, done.code)
        assert "usage:" in out.getvalue(), script
""")


def test_scripts_do_not_edit_sys_path_or_import_train_net():
    offending = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in SCRIPTS
                 for line in path.read_text().splitlines()
                 if "sys.path" in line or re.match(r"\s*(from train_net import|import train_net)", line)]
    assert offending == []


def test_every_script_starts_outside_the_checkout(tmp_path):
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != ROOT]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([sys.executable, "-c", RUN_HELP, *map(str, SCRIPTS)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
