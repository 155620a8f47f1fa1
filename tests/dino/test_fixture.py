"""DINO equals the official implementation on the tiny 4-scale fixture (IDEA-Research/DINO@faa8520).

Our model is rebuilt from the fixture's official arguments (dino/method.py ``official_config``), its
weights loaded through our converter, and run with the compiled CPU kernel ("auto") and the PyTorch
reference. The training forward is fed the stored contrastive-denoising inputs (fixture README,
verification (b)); the builder itself is checked against the stored inputs from the stored seed.
Tolerances (tests/harness/tolerances.py): 1e-4 on float32 outputs and intermediates (the README expects
~1e-6..1e-5 across implementations), 1e-6 on losses; indices, masks and shapes exactly. Top-k indices
are compared first: a near-tie there would reorder every later tensor.
"""
import pytest
import torch

from ops import kernel_available
from projects.layers.deformable.levels import encoder_reference_points
from projects.layers.deformable.proposals import encoder_proposals
from projects.modeling.denoising.groups import denoising_attention_mask
from tests.dino.fixture_runs import eval_run, fixture, fixture_model, train_run
from tests.dino.stored_denoising import stored_queries
from tests.harness.fixture_checks import assert_layer_outputs, assert_official_detections, assert_same_matches
from tests.harness.fixture_utils import image_batch
from tests.harness.tolerances import LOSS_ATOL, assert_close

IMPLS = [
    pytest.param("auto", marks=pytest.mark.skipif(
        not kernel_available("cpu"), reason="needs the compiled op ops._C (python setup.py build_ext --inplace)")),
    "reference",
]
NUM_LAYERS = 2


def intermediates():
    return fixture()["intermediates"]


def token_levels(levels, tokens):
    """The level of each flattened token index [T] -> [T] int64."""
    return torch.bucketize(tokens, levels.level_start_index, right=True) - 1


# ----- levels, encoder, mixed query selection -----

def test_level_masks_positions_and_flattening():
    run, inputs, inter = eval_run("reference"), fixture()["inputs"], intermediates()
    projected, model = run["projected"], run["model"]
    for (_, mask), expected in zip(projected, inputs["masks"]):
        assert torch.equal(mask, expected)
    src, mask = projected[3]
    assert torch.equal(mask, inter["extra_level.3.mask"]) and not mask[1].any()  # README: fully valid
    assert_close(src, inter["extra_level.3.src"])
    assert_close(model.position_embedding(mask), inter["extra_level.3.pos"])  # temperature 20, no offset
    levels, tokens = run["transformer"].levels, inter["encoder.token_index"]
    assert torch.equal(levels.spatial_shapes, inter["transformer.spatial_shapes"])
    assert torch.equal(levels.level_start_index, inter["transformer.level_start_index"])
    assert torch.equal(levels.mask, inter["transformer.mask_flatten"])
    assert_close(levels.valid_ratios, inter["transformer.valid_ratios"])
    assert_close(levels.src[:, tokens], inter["transformer.src_flatten@tok"])
    level_embed = model.transformer.level_embed[token_levels(levels, tokens)]
    assert_close(levels.pos[:, tokens], inputs["pos_at_tok"] + level_embed)
    references = encoder_reference_points(levels.spatial_shapes, levels.valid_ratios)
    assert_close(references[:, tokens], inter["encoder.reference_points@tok"])


@pytest.mark.parametrize("impl", IMPLS)
def test_encoder_memory_and_proposal_selection(impl):
    run, inter = eval_run(impl), intermediates()
    model, transformer = run["model"], run["transformer"]
    # compared first: every later tensor follows the top-k order (README: margins >= 1.4e-4)
    assert torch.equal(transformer.proposal_index, inter["two_stage.topk_proposals"])
    tokens, levels = inter["encoder.token_index"], transformer.levels
    valid = ~levels.mask[:, tokens]  # padded tokens' memory is not used downstream
    assert_close(transformer.memory[:, tokens][valid], inter["encoder.memory@tok"][valid])
    _, proposals = encoder_proposals(transformer.memory, levels.mask, levels.level_shapes)
    expected = inter["two_stage.output_proposals"]
    assert torch.equal(torch.isinf(proposals), torch.isinf(expected))
    finite = torch.isfinite(expected)
    assert_close(proposals[finite], expected[finite])
    normed = run["enc_output_norm"]
    assert_close(normed[:, tokens], inter["two_stage.enc_output_norm@tok"])
    with torch.no_grad():
        logits = model.transformer.enc_out_class_embed(normed)
        coords = model.transformer.enc_out_bbox_embed(normed) + proposals
    assert_close(logits[:, tokens], inter["two_stage.enc_outputs_class@tok"])
    assert_close(logits.max(-1)[0], inter["two_stage.enc_outputs_class_max"])  # max over all 91 logits
    expected = inter["two_stage.enc_outputs_coord_unselected"]
    assert torch.equal(torch.isinf(coords), torch.isinf(expected))
    assert_close(coords[torch.isfinite(expected)], expected[torch.isfinite(expected)])
    selected = inter["two_stage.topk_proposals"][..., None].expand(-1, -1, 4)
    assert_close(torch.gather(coords, 1, selected), inter["two_stage.refpoint_embed_unsigmoid"])
    assert_close(torch.gather(proposals, 1, selected).sigmoid(), inter["two_stage.init_box_proposal"])


# ----- the training forward: denoising queries, every decoder layer, outputs -----

def test_stored_denoising_rows_are_the_label_embedding():
    dn = fixture()["dn"]
    model = fixture_model("reference")
    queries = stored_queries(dn, model.label_enc)
    with torch.no_grad():
        assert_close(queries.content, dn["input_query_label"], atol=0)  # an embedding lookup: exact copies
    assert (queries.pad_size, queries.num_groups) == (dn["dn_meta"]["pad_size"], dn["dn_meta"]["num_dn_group"])
    # the shared rule: matching queries see no dn row, each group sees itself and the matching queries
    assert torch.equal(denoising_attention_mask(queries.num_groups, queries.group_size, 30), dn["attn_mask"])


def dn_ids(queries):
    """The noised label of each dn row [B, P] (-1 = padding), as the fixture stores them."""
    ids = torch.full(queries.content.shape[:2], -1, dtype=torch.int64)
    ids[queries.batch_index, queries.query_index] = queries.labels
    return ids


@pytest.mark.parametrize("dn_number,section", [(2, "dn"), (100, "dn_config_check")])
def test_denoising_builder_reproduces_the_official_draws(dn_number, section):
    """The model's own CDN queries (shared builder, official draw order) from the stored seed: dn_number 2
    gives 4 groups (the fixture's run), the config's 100 gives 20 groups for at most 5 boxes."""
    stored, targets = fixture()[section], fixture()["criterion"]["targets"]
    model = fixture_model("reference", ["MODEL.DINO.DN_NUMBER", dn_number]).train()
    torch.manual_seed(stored["seed"])
    with torch.no_grad():
        queries = model.denoising_queries(targets)
    assert (queries.pad_size, queries.num_groups) == (stored["dn_meta"]["pad_size"], stored["dn_meta"]["num_dn_group"])
    assert torch.equal(dn_ids(queries), stored["input_query_label_ids"])
    assert_close(queries.anchors, stored["input_query_bbox"], atol=1e-6)  # logits of noised boxes in [0, 1]
    assert torch.equal(queries.attn_mask, stored["attn_mask"])


def test_training_forward_from_the_stored_seed():
    """README verification (a): the model's own builder after manual_seed(dn.seed) gives the stored outputs."""
    data = fixture()
    model = fixture_model("reference").train()
    images, pixel_mask = model.preprocess_image(image_batch(data["inputs"]["image_sizes"].tolist()))
    levels = model.backbone(images.tensor, pixel_mask)
    torch.manual_seed(data["dn"]["seed"])
    with torch.no_grad():
        outputs = model.predict(levels, torch.as_tensor(images.image_sizes), pixel_mask, data["criterion"]["targets"])
    expected = data["outputs_train"]
    assert_layer_outputs(outputs, expected)
    assert_layer_outputs(outputs["dn_outputs"], expected["dn_meta"]["output_known_lbs_bboxes"])


@pytest.mark.parametrize("impl", IMPLS)
def test_every_decoder_layer_in_training(impl):
    run, inter = train_run(impl), intermediates()
    transformer, records = run["transformer"], run["decoder"]
    assert torch.equal(transformer.proposal_index, inter["two_stage.topk_proposals"])
    assert_close(transformer.references[0], inter["decoder.in.refpoints_unsigmoid"].sigmoid())
    assert_close(torch.stack(transformer.references).detach(), inter["decoder.out.references"])
    box_head = run["model"].bbox_embed[0]
    for layer in range(NUM_LAYERS):
        name = f"decoder.layers.{layer}"
        assert_close(records["reference_input"][layer], inter[f"{name}.reference_points_input"])
        assert_close(records["query_pos"][layer], inter[f"{name}.query_pos"])
        assert_close(records["self_attn"][layer], inter[f"{name}.self_attn_weights_headavg"])
        assert_close(records["locations"][layer], inter[f"{name}.cross_attn.sampling_locations"])
        assert_close(records["weights"][layer], inter[f"{name}.cross_attn.attention_weights"])
        assert_close(records["output"][layer], inter[f"{name}.output"], msg=name)
        with torch.no_grad():
            # look forward twice: the reference update reads the layer output *before* the final norm,
            # the predicted box the normed one
            assert_close(box_head(records["output"][layer]), inter[f"{name}.ref_update_delta_unsig"])
            assert_close(box_head(transformer.hs[layer]), inter[f"heads.layer{layer}.bbox_delta_unsig"])


@pytest.mark.parametrize("impl", IMPLS)
def test_training_outputs_with_denoising(impl):
    outputs, expected = train_run(impl)["outputs"], fixture()["outputs_train"]
    assert_layer_outputs(outputs, expected)
    for key in ("pred_logits", "pred_boxes"):
        assert_close(outputs["interm_outputs"][key], expected["interm_outputs"][key])
    assert_layer_outputs(outputs["dn_outputs"], expected["dn_meta"]["output_known_lbs_bboxes"])
    queries = outputs["dn_queries"]
    assert (queries.pad_size, queries.num_groups) == (expected["dn_meta"]["pad_size"],
                                                      expected["dn_meta"]["num_dn_group"])


@pytest.mark.parametrize("impl", IMPLS)
def test_matcher_indices_and_all_losses(impl):
    run, stored = train_run(impl), fixture()["criterion"]
    assert_same_matches(run["indices"], stored)
    for (query, target), (expected_query, expected_target) in zip(run["indices"]["_interm"], stored["indices_interm"]):
        assert torch.equal(query, expected_query) and torch.equal(target, expected_target)
    for (query, target), (expected_query, expected_target) in zip(
            run["outputs"]["dn_queries"].positive_indices(2), stored["indices_dn"]):
        assert torch.equal(query, expected_query) and torch.equal(target, expected_target)
    losses, expected = run["losses"], stored["losses"]
    assert set(losses) == set(expected) and len(expected) == 31
    for name, value in expected.items():
        assert_close(losses[name].detach(), value, atol=LOSS_ATOL, msg=name)
    assert run["model"].criterion.weight_dict == stored["weight_dict"]
    # a weighted sum of 15 losses of O(1) with weights <= 5: a few ulp of ~21
    assert_close(run["total"], stored["total_weighted_loss"], atol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_gradients_of_the_weighted_total(impl):
    grads = train_run(impl)["grads"]
    for name, expected in fixture()["grads"].items():
        assert expected.abs().max() > 0, name
        assert_close(grads[name], expected, msg=name)  # README: ~1e-6 relative across implementations


# ----- eval forward, postprocess, eval criterion -----

@pytest.mark.parametrize("impl", IMPLS)
def test_eval_outputs_and_references(impl):
    run, expected, inter = eval_run(impl), fixture()["outputs"], fixture()["intermediates_eval"]
    transformer = run["transformer"]
    assert torch.equal(transformer.proposal_index, inter["two_stage.topk_proposals"])
    assert_close(transformer.references[0], inter["decoder.in.refpoints_unsigmoid"].sigmoid())
    assert_close(torch.stack(transformer.references), inter["decoder.out.references"])
    assert_layer_outputs(run["outputs"], expected)
    for key in ("pred_logits", "pred_boxes"):
        assert_close(run["outputs"]["interm_outputs"][key], expected["interm_outputs"][key])
    assert "dn_outputs" not in run["outputs"]


@pytest.mark.parametrize("impl", IMPLS)
def test_postprocessed_detections(impl):
    run = eval_run(impl)
    assert torch.equal(run["image_sizes"], fixture()["postprocess_target_sizes"])
    assert_official_detections(run["results"], fixture()["postprocess"])  # top 300, boxes not clipped


def test_eval_criterion_has_zero_denoising_losses():
    run, stored = eval_run("reference"), fixture()["criterion_eval"]
    criterion = run["model"].criterion.eval()
    with torch.no_grad():
        losses = criterion(run["outputs"], fixture()["criterion"]["targets"])
        indices = criterion.match(run["outputs"], fixture()["criterion"]["targets"])
    assert_same_matches(indices, stored)
    assert set(losses) == set(stored["losses"])  # the dn keys too, as exact zeros
    for name, value in losses.items():
        assert_close(value, stored["losses"][name], atol=LOSS_ATOL, msg=name)
        if "_dn" in name:
            assert value == 0, name
