"""tools/convert_detr.py turns an official-layout checkpoint into one our DETR loads strictly."""
import subprocess
import sys
from pathlib import Path

import torch

from tests.fixture_utils import load_fixture
from tests.model_utils import assert_checkpoint_restores
from tests.projects.test_detr_fixture import build_tiny_detr

ROOT = Path(__file__).resolve().parents[2]


def test_tool_output_loads_into_the_model(tmp_path):
    fixture = load_fixture("detr", "r50")
    source = tmp_path / "official.pth"
    torch.save({"model": {k: v.float() for k, v in fixture["state_dict"].items()}}, source)
    output = tmp_path / "d2.pth"
    done = subprocess.run([sys.executable, str(ROOT / "tools/convert_detr.py"), str(source), str(output),
                           "--keep-coco-ids"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    model = build_tiny_detr(fixture)
    assert_checkpoint_restores(model, output)


def test_tool_rejects_a_foreign_checkpoint(tmp_path):
    source = tmp_path / "other.pth"
    torch.save({"model": {"transformer.decoder.layers.0.cross_attn.sampling_offsets.weight": torch.zeros(1)}}, source)
    done = subprocess.run([sys.executable, str(ROOT / "tools/convert_detr.py"), str(source), str(tmp_path / "x.pth")],
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "not an official DETR checkpoint" in done.stderr
