"""Shared by the attention-recorder tests (each method's tests/.../test_attention_figures.py and
tests/tools/test_visualize_attention.py): one forward pass of a quickstart config's tiny random model
with the recorder its method registered (projects.visualization.attention.build_recorder) attached."""
import numpy as np
import torch
from PIL import Image

import ops.modules
from projects.config import load_config
from projects.visualization import BatchPredictor
from projects.visualization.attention import build_recorder
from tests.tools.tool_utils import QUICKSTART, tiny_opts

SUM_TOLERANCE = dict(atol=1e-5, rtol=0)  # float32 softmax sums over at most a few hundred entries


def embedded_val_image(embedded_root, index=0):
    """Validation image ``index`` of the embedded dataset at ``embedded_root``, RGB uint8 [H, W, 3]
    (INPUT.FORMAT is RGB in every quickstart config)."""
    return np.asarray(Image.open(embedded_root / "val" / f"{index:06d}.jpg").convert("RGB"))


def recorded(config_name, image, pixels=(), extra=()):
    """(model, recorder, instances) after one forward pass of the tiny random model of
    configs/quickstart/<config_name>.yaml on ``image`` (RGB [H, W, 3])."""
    config = QUICKSTART / f"{config_name}.yaml"
    torch.manual_seed(0)
    predictor = BatchPredictor(load_config(str(config), [*tiny_opts(config), *extra]))
    with torch.no_grad():  # the official init gives every query the same offsets and weights: make them differ
        for module in predictor.model.modules():
            if isinstance(module, ops.modules.MSDeformAttn):
                module.sampling_offsets.weight.normal_(std=0.5)
                module.attention_weights.weight.normal_(std=0.5)
    recorder = build_recorder(predictor.model, pixels)
    with recorder.recording(predictor.model):
        instances = predictor([image])[0]
    return predictor.model, recorder, instances

