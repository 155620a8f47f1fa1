"""tools/convert_checkpoint.py, run as a script, turns an official DETR checkpoint into one our DETR loads strictly."""
import subprocess
import sys

from tests.harness.convert_tool import ROOT, TOOL, save_official
from tests.harness.fixture_utils import load_fixture
from tests.harness.model_utils import assert_checkpoint_restores
from tests.harness.fixture_models import build_fixture_model


def run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_tool_output_loads_into_the_model(tmp_path):
    fixture = load_fixture("detr", "r50")
    source = save_official(tmp_path / "official.pth", {k: v.float() for k, v in fixture["state_dict"].items()})
    output = tmp_path / "d2.pth"
    done = run_tool(source, output, "--keep-coco-ids")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {output}: DETR, {len(fixture['state_dict'])} tensors"
    assert_checkpoint_restores(build_fixture_model("detr", "r50"), output)


def test_tool_rejects_a_foreign_checkpoint_in_one_line(tmp_path):
    source = save_official(tmp_path / "other.pth", load_fixture("deformable_detr", "single_scale")["state_dict"])
    done = run_tool(source, tmp_path / "x.pth", "--method", "detr")
    assert done.returncode == 1
    # the last stderr line (imports may warn before it) is the whole message
    assert done.stderr.strip().splitlines()[-1] == (f"{source}: Not an official DETR checkpoint: it looks like a Deformable DETR "
                                   "checkpoint (variant single_scale); convert it with --method deformable_detr "
                                   "(or --method auto)")
    assert not (tmp_path / "x.pth").exists()
