"""A detector checkpoint must fit the model (MODEL.WEIGHTS_MODE), and --eval-only checks
NUM_CLASSES against the test set (issue 10, item 2)."""
import logging
import subprocess
import sys

import pytest
import torch

from detectron2.modeling import build_model

from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.checkpoint.weights_fit import WeightsMismatchError, compare_weights, guess_method
from projects.config import load_config
from tests.harness.e2e_utils import tiny_cfg
from tests.harness.fast_config import FAST_OVERRIDES, QUICKSTART, ROOT, fast_cfg

DEFORMABLE = str(ROOT / "configs/quickstart/deformable_detr_embedded.yaml")


def _detr(tmp_path, *extra):
    return build_model(fast_cfg(tmp_path, extra=list(extra)))


def _deformable(tmp_path, *extra):
    cfg = tiny_cfg(DEFORMABLE, tmp_path, extra=FAST_OVERRIDES + list(extra))
    return build_model(cfg)


def _saved(model, folder, name="model"):
    """``model`` saved by a DetrCheckpointer as ``folder/name.pth``; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    DetrCheckpointer(model, str(folder)).save(name)
    return str(folder / f"{name}.pth")


def _class_heads(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "class_embed" in k}


def test_another_methods_checkpoint_is_an_error_naming_it(tmp_path):
    path = _saved(_detr(tmp_path), tmp_path / "detr")
    expected = r"method found: DETR\) does not fit the DeformableDETR model"
    with pytest.raises(WeightsMismatchError, match=expected) as info:
        DetrCheckpointer(_deformable(tmp_path)).load(path)
    assert "transformer.decoder.layers.*.cross_attn.sampling_offsets" in str(info.value)


def test_method_is_guessed_for_checkpoints_that_do_not_record_it(tmp_path):
    path = str(tmp_path / "bare.pth")
    torch.save(_detr(tmp_path).state_dict(), path)  # a bare state dict, as converters write
    with pytest.raises(WeightsMismatchError, match=r"method found: DETR\)"):
        DetrCheckpointer(_deformable(tmp_path)).load(path)


def test_partial_mode_loads_what_matches(tmp_path):
    detr = _detr(tmp_path)
    path = _saved(detr, tmp_path / "detr")
    deformable = _deformable(tmp_path)
    DetrCheckpointer(deformable, weights_mode="partial").load(path)
    name = "backbone.body.res4.1.conv2.weight"
    torch.testing.assert_close(deformable.state_dict()[name], detr.state_dict()[name], atol=0, rtol=0)  # copied


def test_other_class_count_is_an_error_in_strict_mode(tmp_path):
    path = _saved(_detr(tmp_path), tmp_path / "detr")
    expected = r"class_embed.weight: checkpoint \(5, 32\) vs model \(4, 32\).*finetune"
    with pytest.raises(WeightsMismatchError, match=expected):
        DetrCheckpointer(_detr(tmp_path, "MODEL.DETR.NUM_CLASSES", 3)).load(path)


@pytest.mark.parametrize("method", ["detr", "deformable"])
def test_finetune_reinitialises_exactly_the_class_heads(tmp_path, caplog, method):
    build = _detr if method == "detr" else _deformable
    source = build(tmp_path)
    path = _saved(source, tmp_path / "source")
    target = build(tmp_path, "MODEL.DETR.NUM_CLASSES", 3)
    fresh_heads = _class_heads(target)  # includes the focal prior bias for Deformable DETR
    with caplog.at_level(logging.WARNING, logger="projects.checkpoint.weights_fit"):
        DetrCheckpointer(target, weights_mode="finetune").load(path)
    loaded, saved = target.state_dict(), source.state_dict()
    for name, value in loaded.items():
        expected = fresh_heads[name] if name in fresh_heads else saved[name]
        torch.testing.assert_close(value, expected, atol=0, rtol=0)  # copies, no arithmetic
    assert "class heads re-initialised" in caplog.text
    assert all(name in caplog.text for name in fresh_heads)


def test_backbone_only_checkpoint_is_accepted_in_strict_mode(tmp_path):
    detr = _detr(tmp_path)
    path = str(tmp_path / "trunk.pth")
    torch.save({"model": {k: v for k, v in detr.state_dict().items() if k.startswith("backbone.")}}, path)
    DetrCheckpointer(_detr(tmp_path)).load(path)


def test_eval_only_checks_num_classes_before_inference(tmp_path):
    result = subprocess.run(
        [sys.executable, "train_net.py", "--config-file", QUICKSTART, "--eval-only",
         "MODEL.DETR.NUM_CLASSES", "3", "OUTPUT_DIR", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "NUM_CLASSES is 3 but dataset 'embedded_shapes_val' has 4 categories" in result.stderr
    assert "Start inference" not in result.stdout + result.stderr


QUICKSTART_CONFIGS = sorted((ROOT / "configs" / "quickstart").glob("*.yaml"))


@pytest.mark.parametrize("config_file", QUICKSTART_CONFIGS, ids=lambda path: path.stem)
def test_the_method_is_guessed_from_the_registered_signatures(config_file):
    """Each quickstart model's state-dict keys -> its meta-architecture (the registered methods'
    ``checkpoint_signatures``; built on the meta device: names and shapes only)."""
    cfg = load_config(str(config_file), ["MODEL.DEVICE", "meta", "MODEL.WEIGHTS", ""])
    with torch.device("meta"):
        names = list(build_model(cfg).state_dict())
    assert guess_method(names) == cfg.MODEL.META_ARCHITECTURE


def test_weights_fit_lists_what_does_not_fit():
    model = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2), "bn.num_batches_tracked": torch.zeros(())}
    checkpoint = {"a.weight": torch.zeros(4, 3), "extra.weight": torch.zeros(1)}
    fit = compare_weights(model, checkpoint, ignore=[r"num_batches_tracked$"])
    assert fit.missing == ("a.bias",) and fit.unexpected == ("extra.weight",)
    assert fit.reshaped == (("a.weight", (4, 3), (2, 3)),)
    assert not fit.exact and compare_weights(model, model).exact
    assert fit.describe() == ("1 model entries missing (a.bias); 1 entries the model does not have (extra.weight); "
                              "1 shape mismatches (a.weight: checkpoint (4, 3) vs model (2, 3))")
    assert guess_method(checkpoint) == "unknown"
