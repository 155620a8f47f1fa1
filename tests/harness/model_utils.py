"""Test helpers shared by the model tests: a backbone stub that returns fixture features, and the
full-size official key lists."""
import json

import torch

from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone

from tests.harness.fixture_utils import FIXTURE_DIR


class StubBackbone(Backbone):
    """A Detectron2 backbone that ignores the image and returns preset feature maps.

    The official fixtures were produced the same way (their ResNet trunk replaced by a stub).
    """

    def __init__(self, features, strides, names=None):
        super().__init__()
        self.names = names or [f"res{int(s).bit_length() - 1}" for s in strides]
        self.features = [f.float() for f in features]
        self.strides = list(strides)

    def forward(self, images):
        return dict(zip(self.names, self.features))

    def output_shape(self):
        return {
            name: ShapeSpec(channels=f.shape[1], stride=s)
            for name, f, s in zip(self.names, self.features, self.strides)
        }


def official_key_shapes(method, variant):
    """{official key: torch.Size} of the full-size official model (tests/fixtures/<method>/<variant>.keys.json)."""
    data = json.loads((FIXTURE_DIR / method / f"{variant}.keys.json").read_text())
    return {key: torch.Size(shape) for key, shape in data["state_dict"]}, data


def shape_only_state_dict(key_shapes):
    """Meta tensors with the given shapes (enough to run a key/shape conversion check)."""
    return {key: torch.empty(shape, device="meta") for key, shape in key_shapes.items()}


def count_parameters(model):
    """Unique nn.Parameters (shared weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def assert_full_size_conversion(model, method, variant, convert):
    """``convert`` maps the full-size official key list (tests/fixtures/<method>/<variant>.keys.json, shapes
    only) onto exactly ``model``'s state dict, and the parameter counts agree. Returns the key list's info."""
    from projects.checkpoint import check_conversion

    key_shapes, info = official_key_shapes(method, variant)
    check_conversion(model.state_dict(), convert(shape_only_state_dict(key_shapes)))
    assert count_parameters(model) == info["num_params"]
    return info


def assert_checkpoint_restores(model, checkpoint_path):
    """Zero ``model``'s parameters, load ``checkpoint_path`` with Detectron2's checkpointer, and assert
    every state-dict entry is back to its value before (the checkpoint must hold exactly the model)."""
    from detectron2.checkpoint import DetectionCheckpointer

    reference = {k: v.clone() for k, v in model.state_dict().items()}
    for param in model.parameters():
        param.data.zero_()
    DetectionCheckpointer(model).load(str(checkpoint_path))
    for name, value in reference.items():
        # a load copies the stored values: bit-identical on any machine, hence no tolerance
        torch.testing.assert_close(model.state_dict()[name], value, atol=0, rtol=0, msg=name)
