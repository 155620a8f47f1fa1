"""SMCA's config variants train and infer; bad SMCA configs fail with a message naming the key.

The two quickstart configs (single- and multi-scale) get the full end-to-end checks in
tests/smca/test_model_e2e.py; each ablation variant here trains one step and runs inference.
"""
import math

import pytest

from detectron2.modeling import build_model

from tests.harness.e2e_harness import eval_inputs, infer, train_steps
from tests.harness.e2e_utils import tiny_cfg

SINGLE = "configs/quickstart/smca_single_scale_embedded.yaml"
MULTI = "configs/quickstart/smca_multi_scale_embedded.yaml"
MULTI_TINY = ["MODEL.DETR.ENC_LAYERS", 3]  # one per MODEL.SMCA.ENCODER_BLOCKS entry of the quickstart
VARIANTS = {
    "single-fixed": (SINGLE, ["MODEL.SMCA.SCALE_MODE", "fixed"]),
    "single-single": (SINGLE, ["MODEL.SMCA.SCALE_MODE", "single"]),
    "single-head-shared": (SINGLE, ["MODEL.SMCA.HEAD_SHARED", True]),
    "multi-no-scale-selection": (MULTI, MULTI_TINY + ["MODEL.SMCA.SCALE_SELECTION", False]),
    "multi-3multi-shared-kv": (MULTI, ["MODEL.DETR.ENC_LAYERS", 3, "MODEL.SMCA.ENCODER_BLOCKS", ["multi"] * 3,
                                       "MODEL.SMCA.SHARED_SCALE_PROJECTIONS", True]),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_trains_a_step_and_infers(variant, train_records):
    config_file, overrides = VARIANTS[variant]
    cfg = tiny_cfg(config_file, extra=overrides)
    trained = train_steps(cfg, train_records, steps=1)
    (losses,) = trained.step_losses
    assert losses and all(math.isfinite(float(value)) for value in losses.values()), losses
    assert trained.nonfinite_grads == []
    for instances in infer(trained.model, eval_inputs(trained.cfg, train_records)):
        assert len(instances) == trained.cfg.MODEL.DETR.NUM_TOPK_TEST
        assert int(instances.pred_classes.max()) < trained.cfg.MODEL.DETR.NUM_CLASSES


@pytest.mark.parametrize("config_file,overrides,message", [
    (MULTI, ["MODEL.DETR.ENC_LAYERS", 5], "ENCODER_BLOCKS"),
    (SINGLE, ["MODEL.DETR.CLASS_LOSS", "softmax"], "focal"),
    (SINGLE, ["MODEL.SMCA.SCALE_MODE", "type3"], "independent"),
])
def test_config_errors_name_the_key(config_file, overrides, message):
    with pytest.raises(ValueError, match=message):
        build_model(tiny_cfg(config_file, extra=overrides))
