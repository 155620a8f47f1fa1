"""Conditional DETR equals the official implementation on the tiny fixture (weights through our converter).

Tolerances (tests/harness/tolerances.py): 1e-4 on float32 model outputs and intermediates (measured differences
are ~1e-6, float32 summation order), 1e-6 on losses, exact for masks and matcher indices.
"""
import pytest

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from conditional_detr import add_conditional_detr_config, convert_conditional_detr_state_dict
from projects.checkpoint import WrongCheckpointError
from tests.harness.fixture_checks import (
    assert_layer_outputs, assert_official_detections, assert_official_matches_and_losses, assert_single_level_inputs,
)
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture, run_fixture_batch
from tests.harness.model_utils import assert_full_size_conversion, count_trainable
from tests.harness.tolerances import assert_close


@pytest.fixture(scope="module")
def fixture():
    return cached_fixture("conditional_detr", "r50")


@pytest.fixture(scope="module")
def model():
    return build_fixture_model("conditional_detr", "r50")


def capture_intermediates(model, fixture):
    """Run the fixture batch with hooks; returns our tensors under the fixture's intermediate names."""
    captured = {}
    transformer = model.transformer
    decoder = transformer.decoder

    def keep(name):
        return lambda module, inputs, output: captured.__setitem__(name, output)

    hooks = [
        transformer.encoder.register_forward_hook(keep("encoder.memory")),
        decoder.ref_point_head.register_forward_hook(keep("decoder.ref_point_head.out")),
        decoder.query_scale.register_forward_hook(keep("decoder.layer1.query_scale.out")),
        decoder.register_forward_hook(keep("decoder")),
    ]
    for index, layer in enumerate(decoder.layers):
        prefix = f"decoder.layer{index}."
        hooks.append(layer.register_forward_pre_hook(
            lambda module, args, name=prefix + "query_sine_embed": captured.__setitem__(name, args[5])))
        hooks.append(layer.ca_qpos_sine_proj.register_forward_hook(keep(prefix + "ca_qpos_sine_proj.out")))
        hooks.append(layer.cross_attn.register_forward_hook(
            lambda module, args, kwargs, output, name=prefix + "cross_attn.weights_mean_over_heads":
            captured.__setitem__(name, module.attention_probs(args[0], args[1], kwargs["key_padding_mask"]).mean(1)),
            with_kwargs=True))
        hooks.append(layer.register_forward_hook(keep(prefix + "out")))
    try:
        run = run_fixture_batch(model, fixture)
    finally:
        for hook in hooks:
            hook.remove()
    captured["decoder.hs"], captured["decoder.reference_points"] = captured.pop("decoder")
    return captured, run


@pytest.fixture(scope="module")
def traced(model, fixture):
    return capture_intermediates(model, fixture)


def test_pixel_and_level_masks_and_positions(traced, fixture, model):
    assert_single_level_inputs(model, traced[1], fixture["inputs"])


SEQ_FIRST = ["encoder.memory", "decoder.ref_point_head.out", "decoder.layer1.query_scale.out"] + [
    f"decoder.layer{i}.{name}" for i in (0, 1) for name in ("query_sine_embed", "ca_qpos_sine_proj.out", "out")]
BATCH_FIRST = ["decoder.reference_points", "decoder.hs", "decoder.layer0.cross_attn.weights_mean_over_heads",
               "decoder.layer1.cross_attn.weights_mean_over_heads"]


@pytest.mark.parametrize("name", SEQ_FIRST + BATCH_FIRST)
def test_intermediates(traced, fixture, name):
    """Every stored intermediate: encoder memory, reference points, per-layer spatial queries, lambda_q,
    attention maps, raw layer outputs and the normalised decoder states."""
    ours = traced[0][name]
    expected = fixture["intermediates"][name]
    if name in SEQ_FIRST:  # official layout [len, B, C]; ours is batch-first
        ours = ours.transpose(0, 1)
    assert_close(ours, expected)


def test_layer1_spatial_query_is_scaled_embedding(traced):
    """Paper eq. 3: layer 1's p_s * lambda_q equals layer 0's p_s times query_scale(layer-0 output)."""
    captured = traced[0]
    expected = captured["decoder.layer0.query_sine_embed"] * captured["decoder.layer1.query_scale.out"]
    # the model's own product of the same float32 tensors: equal up to rounding of values of O(1)
    assert_close(captured["decoder.layer1.query_sine_embed"], expected, atol=1e-6)


def test_outputs_every_decoder_layer(traced, fixture):
    assert_layer_outputs(traced[1]["outputs"], fixture["outputs"])


def test_matcher_indices_and_losses(traced, fixture, model):
    assert_official_matches_and_losses(model.criterion, traced[1]["outputs"], fixture["criterion"])
    assert model.criterion.weight_dict == fixture["criterion"]["weight_dict"]


def test_postprocess(traced, fixture):
    assert_official_detections(traced[1]["results"], fixture["postprocess"])


def full_size_model(config_file):
    """The full-size model of a config with the official 91-logit head (COCO ids 0..90)."""
    cfg = get_cfg()
    add_conditional_detr_config(cfg)
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(["MODEL.DETR.NUM_CLASSES", "91", "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    return build_model(cfg)


@pytest.mark.parametrize("config_file", ["configs/conditional_detr/conditional_detr_r50_50ep.yaml",
                                         "configs/conditional_detr/conditional_detr_dc5_r50_50ep.yaml"])
def test_full_size_conversion_is_complete(config_file):
    """Every official R50 key is consumed, every model entry filled, shapes equal, parameter counts equal.

    The official DC5 model has the same keys and shapes as R50 (fixture README), so one key list serves both.
    """
    model = full_size_model(config_file)
    info = assert_full_size_conversion(model, "conditional_detr", "r50", convert_conditional_detr_state_dict)
    assert len(info["state_dict"]) == info["num_state_dict_entries"] == 564  # official keys
    assert info["num_params"] == 43_418_401
    assert count_trainable(model) == info["num_params_trainable_as_main_py_counts"]


def test_coco_class_reduction(fixture):
    official = fixture["state_dict"]
    converted = convert_conditional_detr_state_dict(official, coco_to_contiguous=True)
    weight, bias = converted["class_embed.weight"], converted["class_embed.bias"]
    assert weight.shape[0] == bias.shape[0] == 80  # sigmoid head: no no-object row
    # the converter copies rows: bit-identical, hence no tolerance
    assert_close(weight[0], official["class_embed.weight"][1], atol=0)  # person = COCO id 1
    assert_close(bias[-1], official["class_embed.bias"][90], atol=0)  # toothbrush = COCO id 90


@pytest.mark.parametrize("method,variant,family", [("detr", "r50", "DETR"),
                                                   ("deformable_detr", "single_scale", "Deformable DETR"),
                                                   ("smca", "single_scale_type1", "SMCA")])
def test_other_checkpoints_are_rejected(method, variant, family):
    with pytest.raises(WrongCheckpointError, match=f"looks like a {family} checkpoint"):
        convert_conditional_detr_state_dict(cached_fixture(method, variant)["state_dict"])
