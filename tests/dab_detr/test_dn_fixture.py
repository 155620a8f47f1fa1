"""DN-DAB-DETR and DN-DAB-Deformable-DETR (MODEL.DN) equal the official DN-DETR on the tiny fixtures.

The training forward is fed the stored denoising inputs (dn_detr README, verification (b)); the same inputs
are also rebuilt from the stored seed by our builder (the official draw order). Compared: the matching
queries' content and anchors, every intermediate of all P + Q queries, the outputs of both parts, matcher
indices, every loss incl. the denoising ``tgt_*`` ones, and the eval forward with its post-processing.
Tolerances (tests/harness/tolerances.py): 1e-4 float32 outputs, 1e-6 losses; indices and masks exact.
"""
from functools import lru_cache

import pytest
import torch

from dab_detr import convert_dab_detr_state_dict, convert_dn_detr_state_dict
from dab_detr.queries import AnchorQueries
from projects.checkpoint import WrongCheckpointError
from projects.config import load_config
from tests.dab_detr.capture import capture
from tests.dab_detr.dn_inputs import batch_first, stored_dn_queries, training_forward
from tests.harness.fixture_checks import assert_layer_outputs, assert_official_detections, assert_same_matches
from tests.harness.fixture_models import build_fixture_model
from tests.harness.fixture_utils import cached_fixture, run_fixture_batch
from tests.harness.model_utils import assert_full_size_conversion, count_trainable
from tests.harness.tolerances import LOSS_ATOL, assert_close

VARIANTS = ("dn_dab_detr", "dn_dab_deformable_detr")
SEQ_FIRST = {"dn_dab_detr": True, "dn_dab_deformable_detr": False}


def fixture(variant):
    return cached_fixture("dn_detr", variant)


def build(variant):
    return build_fixture_model("dn_detr", variant, ["MODEL.DAB_DETR.ATTENTION_IMPL", "reference"])


@lru_cache(maxsize=None)
def trained_forward(variant):
    """(model, outputs, intermediates, losses, indices) of the training forward on the stored dn inputs."""
    model = build(variant)
    queries = stored_dn_queries(fixture(variant)["dn"], SEQ_FIRST[variant])
    outputs, names = capture(model, lambda: training_forward(model, fixture(variant), queries))
    targets = fixture(variant)["criterion"]["targets"]
    with torch.no_grad():
        losses = model.criterion.train()(outputs, targets)
        indices = model.criterion.match(outputs, targets)
    return model, outputs, names, losses, indices


@pytest.mark.parametrize("variant", VARIANTS)
def test_denoising_queries_from_the_stored_seed(variant):
    """Our builder under the official draw order reproduces the noised labels / boxes, the dn rows of the
    decoder input and the attention mask from ``dn.seed`` alone."""
    model, dn = build(variant).train(), fixture(variant)["dn"]
    stored = stored_dn_queries(dn, SEQ_FIRST[variant])
    torch.manual_seed(dn["seed"])
    with torch.no_grad():
        ours = AnchorQueries.build_denoising(model, fixture(variant)["criterion"]["targets"], 30)
    assert torch.equal(ours.labels, dn["noised_labels"])
    assert torch.equal(ours.attn_mask, dn["attn_mask"])
    for field in ("batch_index", "query_index", "target_index"):
        assert torch.equal(getattr(ours, field), getattr(stored, field)), field
    assert_close(ours.boxes, dn["noised_boxes"], atol=1e-6)  # sums and products of values in [0, 1]
    assert_close(ours.content, stored.content)
    assert_close(ours.anchors, stored.anchors)


@pytest.mark.parametrize("variant", VARIANTS)
def test_matching_queries_are_the_official_ones(variant):
    """Single-scale: content [label_enc(no-object row), 0] (not DAB-DETR's zeros); deformable: [tgt_embed, 0]."""
    model, dn = build(variant), fixture(variant)["dn"]
    pad = dn["mask_dict"]["pad_size"]
    with torch.no_grad():
        queries = model.queries(model.matching_content(2), model.refpoint_embed.weight)
    assert_close(queries.content, batch_first(dn["input_query_label"], SEQ_FIRST[variant])[:, pad:])
    assert_close(queries.anchor_logits, batch_first(dn["input_query_bbox"], SEQ_FIRST[variant])[:, pad:])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_intermediate_of_all_queries(variant):
    _, _, names, _, _ = trained_forward(variant)
    stored = fixture(variant)["intermediates"]
    tokens = stored.get("encoder.token_index")
    for name, expected in stored.items():
        if name == "encoder.token_index":
            continue
        value = names[name.replace("@tok", "")]
        if name.endswith("@tok"):
            value = value[:, tokens]
        if not expected.is_floating_point():
            assert torch.equal(value, expected), name
        else:
            assert_close(value, expected, msg=name)


@pytest.mark.parametrize("variant", VARIANTS)
def test_outputs_of_both_parts(variant):
    _, outputs, _, _, _ = trained_forward(variant)
    expected = fixture(variant)
    assert_layer_outputs(outputs, expected["outputs"])
    mask_dict = expected["dn"]["mask_dict"]
    dn_layers = [*outputs["dn_outputs"]["aux_outputs"], outputs["dn_outputs"]]
    for layer, dn_layer in enumerate(dn_layers):
        assert_close(dn_layer["pred_logits"], mask_dict["output_known_class"][layer])
        assert_close(dn_layer["pred_boxes"], mask_dict["output_known_coord"][layer])


@pytest.mark.parametrize("variant", VARIANTS)
def test_matcher_indices_and_every_loss(variant):
    model, _, _, losses, indices = trained_forward(variant)
    criterion = fixture(variant)["criterion"]
    assert_same_matches(indices, criterion)
    assert set(losses) == set(criterion["losses"])
    for name, value in criterion["losses"].items():
        assert_close(losses[name], value, atol=LOSS_ATOL, msg=name)
    # official DN-DAB-Deformable-DETR also lists _enc weights, for losses it never produces
    assert model.criterion.weight_dict == {k: v for k, v in criterion["weight_dict"].items() if "_enc" not in k}


@pytest.mark.parametrize("variant", VARIANTS)
def test_eval_forward_and_postprocess(variant):
    """At inference there are no denoising queries: the eval outputs and detections of the official model."""
    model = build(variant)
    run = run_fixture_batch(model, fixture(variant))
    assert "dn_outputs" not in run["outputs"]
    assert_layer_outputs(run["outputs"], fixture(variant)["eval_outputs"])
    assert_official_detections(run["results"], fixture(variant)["postprocess"])


FULL_SIZE = {"dn_dab_detr": ("configs/dab_detr/dn_dab_detr_r50_50ep.yaml", 591),
             "dn_dab_deformable_detr": ("configs/dab_detr/dn_dab_deformable_detr_r50_50ep.yaml", 605)}


@pytest.mark.parametrize("variant", VARIANTS)
def test_full_size_conversion_is_complete(variant):
    from detectron2.modeling import build_model

    config_file, entries = FULL_SIZE[variant]
    cfg = load_config(config_file, ["MODEL.DETR.NUM_CLASSES", "91", "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    model = build_model(cfg)
    info = assert_full_size_conversion(model, "dn_detr", variant, convert_dn_detr_state_dict)
    assert len(info["state_dict"]) == info["num_state_dict_entries"] == entries
    assert count_trainable(model) == info["num_params_requires_grad"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_dn_and_dab_checkpoints_are_told_apart(variant):
    """A DN-DETR checkpoint is not a DAB-DETR one (it has ``label_enc``), and the other way round."""
    found = rf"looks like a DN-DETR \(DN-DAB-DETR\) checkpoint \(variant {variant}\)"
    with pytest.raises(WrongCheckpointError, match=found):
        convert_dab_detr_state_dict(fixture(variant)["state_dict"])
    with pytest.raises(WrongCheckpointError, match=rf"looks like a DAB-DETR checkpoint \(variant {variant[3:]}\)"):
        convert_dn_detr_state_dict(cached_fixture("dab_detr", variant[3:])["state_dict"])
