"""tools/benchmark_peers.py's weight mapping: tiny versions of our three R50 configs and their
Hugging Face transformers peers, with every weight copied over, give the same outputs."""
import importlib

import pytest
import torch

from projects.benchmark import hf_configs
from tests.harness.tolerances import OUT_ATOL, assert_close
from tests.tools.tool_utils import ROOT, load_tool

transformers = pytest.importorskip(
    "transformers", reason="needs transformers (pip install -r tools/benchmark_requirements.txt)")

from projects.benchmark.peers import (batch_for, build_pair, hf_outputs, hf_training_loss,  # noqa: E402
                                      ours_outputs, ours_training_loss, random_targets)
from train_net import load_config  # noqa: E402

# A bottleneck ResNet-50 at 1/8 width and a 32-wide transformer: the R50 key layout, in milliseconds.
TINY = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.RESNETS.STEM_OUT_CHANNELS", "16",
        "MODEL.RESNETS.RES2_OUT_CHANNELS", "32", "MODEL.RESNETS.WIDTH_PER_GROUP", "8", "MODEL.DETR.HIDDEN_DIM", "32",
        "MODEL.DETR.NHEADS", "2", "MODEL.DETR.ENC_LAYERS", "1", "MODEL.DETR.DEC_LAYERS", "2",
        "MODEL.DETR.DIM_FEEDFORWARD", "64", "MODEL.DETR.NUM_OBJECT_QUERIES", "10"]
CONFIGS = {
    "deformable_detr": ("configs/deformable_detr/deformable_detr_r50_50ep.yaml",
                        ["MODEL.DEFORMABLE_DETR.ENC_N_POINTS", "2", "MODEL.DEFORMABLE_DETR.DEC_N_POINTS", "2"]),
    "conditional_detr": ("configs/conditional_detr/conditional_detr_r50_50ep.yaml", []),
    "detr": ("configs/detr/detr_r50_500ep.yaml", []),
    "detr_r18": ("configs/detr/detr_r50_500ep.yaml", ["MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS",
                                                      "64", "MODEL.RESNETS.STEM_OUT_CHANNELS", "64"]),
}
# two images of different sizes: padding, masks and per-image valid ratios are exercised
SIZES = [(96, 128), (80, 112)]


def tiny_pair(name):
    config, extra = CONFIGS[name]
    return build_pair(load_config(str(ROOT / config), [*TINY, *extra]))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_copied_weights_give_the_same_outputs(name):
    pair = tiny_pair(name)
    batch = batch_for(pair.ours, SIZES)
    with torch.no_grad():
        ours = ours_outputs(pair.ours, batch)
        theirs = hf_outputs(pair.hf, batch)
    assert ours["pred_logits"].shape == theirs.logits.shape
    # float32 model outputs: the project's bound (implementations differ in summation order only)
    assert_close(ours["pred_logits"], theirs.logits, atol=OUT_ATOL)
    assert_close(ours["pred_boxes"], theirs.pred_boxes, atol=OUT_ATOL)
    # the outputs depend on the image, by far more than the tolerance (the perturbed weights make the
    # boxes and the deformable sampling input-dependent; at the official init they would not be)
    for key in ("pred_logits", "pred_boxes"):
        assert (ours[key][0] - ours[key][1]).abs().max() > 10 * OUT_ATOL


def test_training_step_trains_the_same_parameters():
    pair = tiny_pair("deformable_detr")
    batch = batch_for(pair.ours, SIZES)
    targets = random_targets(len(SIZES), pair.ours.class_embed[0].out_features)
    pair.ours.train(), pair.hf.train()
    for model, loss_fn in ((pair.ours, ours_training_loss), (pair.hf, hf_training_loss)):
        loss = loss_fn(model, batch, targets)
        assert torch.isfinite(loss)
        loss.backward()
    ours_trained = {n for n, p in pair.ours.named_parameters() if p.grad is not None}
    hf_trained = {n for n, p in pair.hf.named_parameters() if p.grad is not None}
    # the backbone from res3 on trains on both sides (HF's own freezing rule would freeze its whole trunk)
    assert any(n.startswith("backbone.body.res3.") for n in ours_trained)
    assert any(".encoder.stages.1." in n for n in hf_trained)
    assert not any(".encoder.stages.0." in n or ".embedder." in n for n in hf_trained)


def test_profile_prints_the_speed_up_and_its_bound(capsys):
    tool = load_tool("benchmark_peers")
    pair = tiny_pair("deformable_detr")
    tool.profile(pair, batch_for(pair.ours, SIZES), threads=1, top=3)
    lines = capsys.readouterr().out.splitlines()
    bound_line = next(line for line in lines if line.startswith("Speed-up HF / ours"))
    speed_up, bound = (float(part.split("x")[0]) for part in (bound_line.split("ours ")[1],
                                                             bound_line.split("our dense ")[1]))
    # our dense time is part of our total, so the bound can only be above the measured speed-up
    assert 0 < speed_up < bound


def test_missing_transformers_exits_with_the_install_hint(monkeypatch):
    real_import = importlib.import_module

    def fail_on_transformers(name, *args):
        if name == "transformers":
            raise ImportError("No module named 'transformers'")
        return real_import(name, *args)

    monkeypatch.setattr(hf_configs.importlib, "import_module", fail_on_transformers)
    with pytest.raises(SystemExit, match=r"pip install -r tools/benchmark_requirements.txt"):
        hf_configs.import_transformers()
