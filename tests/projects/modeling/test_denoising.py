"""Denoising queries (projects/modeling/denoising): DN-DETR's and DINO's builders against the official
fixtures (rebuilt from the stored RNG seed), the attention-mask rule on odd batches, the noise bounds,
the group rule, the output split and the one-line setting errors."""
from pathlib import Path

import pytest
import torch
from torch import nn

from projects.layers.boxes import box_cxcywh_to_xyxy
from projects.modeling.denoising import (
    DenoisingConfigError,
    build_cdn_queries,
    build_dn_queries,
    cdn_num_groups,
    check_denoising_settings,
    denoising_attention_mask,
    pack_denoising_outputs,
    split_denoising,
)
from projects.modeling.denoising.noise import jitter_box_corners, jitter_boxes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DN_FIXTURES = ["dn_dab_detr", "dn_dab_deformable_detr"]
# Noised boxes and their logits are float32 values of O(1) computed with the official operations in the
# official order; inverse_sigmoid's log may take another SIMD path (1 ulp = 2.4e-7 seen here).
FLOAT_ATOL = 1e-6


def load(method, name):
    return torch.load(FIXTURES / method / f"{name}.tiny.pt", map_location="cpu", weights_only=True)


def label_embedding(fixture):
    """The official label_enc with the fixture's (float16-stored) weights."""
    return nn.Embedding.from_pretrained(fixture["state_dict"]["label_enc.weight"].float())


def dn_from_seed(fixture, **overrides):
    dn = fixture["dn"]
    if "generator" not in overrides:
        torch.manual_seed(dn["seed"])  # the official draws come from the global generator
    settings = dict(num_queries=fixture["args"]["num_queries"], num_groups=dn["scalar"],
                    label_noise_ratio=dn["label_noise_scale"], box_noise_scale=dn["box_noise_scale"],
                    num_classes=fixture["args"]["num_classes"])
    settings.update(overrides)
    return build_dn_queries(fixture["criterion"]["targets"], label_embedding(fixture), **settings)


def cdn_from_seed(fixture, dn_number, seed=3, **overrides):
    args = fixture["args"]
    torch.manual_seed(seed)
    settings = dict(num_queries=args["num_queries"], dn_number=dn_number, num_classes=args["num_classes"],
                    label_noise_ratio=args["dn_label_noise_ratio"], box_noise_scale=args["dn_box_noise_scale"])
    settings.update(overrides)
    return build_cdn_queries(fixture["criterion"]["targets"], label_embedding(fixture), **settings)


def batch_first(tensor, batch_size=2):
    """The single-scale model stores its decoder inputs sequence-first [P + Q, B, C]."""
    return tensor if tensor.shape[0] == batch_size else tensor.transpose(0, 1)


def row_labels(queries):
    """[B, P] noised label of every dn row, -1 on padding rows (the DINO fixture's ``input_query_label_ids``)."""
    ids = torch.full((queries.content.shape[0], queries.pad_size), -1, dtype=torch.int64)
    ids[queries.batch_index, queries.query_index] = queries.labels
    return ids


# ----- official fixtures -----

@pytest.mark.parametrize("name", DN_FIXTURES)
def test_dn_queries_from_seed_equal_official(name):
    fixture = load("dn_detr", name)
    dn, stored = fixture["dn"], fixture["dn"]["mask_dict"]
    queries = dn_from_seed(fixture)
    pad = stored["pad_size"]
    assert (queries.pad_size, queries.num_groups, queries.group_size) == (pad, dn["scalar"], pad // dn["scalar"])
    assert torch.equal(queries.labels, dn["noised_labels"])
    torch.testing.assert_close(queries.boxes, dn["noised_boxes"], atol=FLOAT_ATOL, rtol=0)
    torch.testing.assert_close(queries.content, batch_first(dn["input_query_label"])[:, :pad], atol=FLOAT_ATOL, rtol=0)
    torch.testing.assert_close(queries.anchors, batch_first(dn["input_query_bbox"])[:, :pad], atol=FLOAT_ATOL, rtol=0)
    assert torch.equal(queries.attn_mask, dn["attn_mask"])
    assert torch.equal(queries.query_index, stored["map_known_indice"])
    assert torch.equal(queries.batch_index, stored["batch_idx"][stored["known_indice"]])
    assert bool(queries.positive.all()) and not queries.contrastive
    # the target each row reconstructs: the clean repeated labels and boxes of the official mask_dict
    clean = {key: torch.cat([t[key] for t in fixture["criterion"]["targets"]]) for key in ("labels", "boxes")}
    offsets = torch.tensor([0, len(fixture["criterion"]["targets"][0]["labels"])])
    flat = offsets[queries.batch_index] + queries.target_index
    assert torch.equal(clean["labels"][flat], stored["known_labels"])
    assert torch.equal(clean["boxes"][flat], stored["known_bboxs"])


@pytest.mark.parametrize("dn_number,section", [(2, "dn"), (100, "dn_config_check")])
def test_cdn_queries_from_seed_equal_official(dn_number, section):
    fixture = load("dino", "dino_4scale")
    stored = fixture[section]
    assert fixture["args"]["dn_number"] == 2 and stored.get("dn_number", 2) == dn_number
    queries = cdn_from_seed(fixture, dn_number)
    meta = stored["dn_meta"]
    assert (queries.pad_size, queries.num_groups) == (meta["pad_size"], meta["num_dn_group"])
    assert queries.contrastive and queries.group_size == meta["pad_size"] // meta["num_dn_group"]
    assert torch.equal(row_labels(queries), stored["input_query_label_ids"])
    torch.testing.assert_close(queries.anchors, stored["input_query_bbox"], atol=FLOAT_ATOL, rtol=0)
    assert torch.equal(queries.attn_mask, stored["attn_mask"])
    if "input_query_label" in stored:
        torch.testing.assert_close(queries.content, stored["input_query_label"], atol=FLOAT_ATOL, rtol=0)


def test_cdn_positive_pairs_equal_official_dn_indices():
    fixture = load("dino", "dino_4scale")
    pairs = cdn_from_seed(fixture, fixture["args"]["dn_number"]).positive_indices(2)
    for (query, target), (stored_query, stored_target) in zip(pairs, fixture["criterion"]["indices_dn"]):
        assert torch.equal(query, stored_query) and torch.equal(target, stored_target)


def test_generator_argument_gives_the_global_draws_and_leaves_the_global_rng_alone():
    fixture = load("dn_detr", "dn_dab_detr")
    from_global = dn_from_seed(fixture)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    from_generator = dn_from_seed(fixture, generator=torch.Generator().manual_seed(fixture["dn"]["seed"]))
    assert torch.equal(from_generator.labels, from_global.labels)
    assert torch.equal(from_generator.boxes, from_global.boxes)  # the same draws and operations: bit-equal
    assert torch.equal(torch.get_rng_state(), state)


# ----- odd batches and the attention-mask rule -----

def reference_mask(num_groups, group_size, num_queries):
    """The rule written out cell by cell: dn rows see their own group and every matching query; matching
    queries see only matching queries."""
    pad = num_groups * group_size
    size = pad + num_queries
    mask = torch.zeros(size, size, dtype=torch.bool)
    for row in range(size):
        for col in range(pad):
            mask[row, col] = row >= pad or row // group_size != col // group_size
    return mask


@pytest.mark.parametrize("num_groups,group_size,num_queries", [(1, 3, 4), (3, 2, 5), (4, 10, 3), (2, 1, 0), (5, 0, 6)])
def test_attention_mask_rule(num_groups, group_size, num_queries):
    mask = denoising_attention_mask(num_groups, group_size, num_queries)
    assert mask.dtype == torch.bool and torch.equal(mask, reference_mask(num_groups, group_size, num_queries))


def boxes(*rows):
    return torch.tensor(rows, dtype=torch.float32)


TARGETS = [{"labels": torch.tensor([3, 1]), "boxes": boxes([0.5, 0.5, 0.2, 0.3], [0.3, 0.6, 0.1, 0.2])},
           {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)},
           {"labels": torch.tensor([2]), "boxes": boxes([0.6, 0.4, 0.3, 0.3])}]


def small_builders(targets, **extra):
    embedding = nn.Embedding(6, 8)
    dn = build_dn_queries(targets, embedding, num_queries=4, num_groups=3, label_noise_ratio=0.5,
                          box_noise_scale=0.4, num_classes=5, **extra)
    cdn = build_cdn_queries(targets, nn.Embedding(6, 9), num_queries=4, dn_number=2, label_noise_ratio=0.5,
                            box_noise_scale=0.4, num_classes=5, **extra)
    return dn, cdn


def test_image_without_targets_gets_only_padding_rows():
    dn, cdn = small_builders(TARGETS)
    assert (dn.pad_size, dn.group_size, cdn.pad_size, cdn.num_groups) == (6, 2, 16, 4)
    for queries, channels in [(dn, 9), (cdn, 9)]:
        assert queries.content.shape == (3, queries.pad_size, channels)
        assert queries.anchors.shape == (3, queries.pad_size, 4)
        assert not bool((queries.batch_index == 1).any())
        assert queries.content[1].abs().sum() == 0 and queries.anchors[1].abs().sum() == 0  # exact zeros
        used = torch.zeros(3, queries.pad_size, dtype=torch.bool)
        used[queries.batch_index, queries.query_index] = True
        assert queries.content[~used].abs().sum() == 0 and bool(queries.content[used].abs().sum(-1).gt(0).all())
    # DN-DETR's indicator channel: 1 on every noised row, 0 on padding rows
    assert bool((dn.content[dn.batch_index, dn.query_index, -1] == 1).all())
    assert torch.equal(cdn.attn_mask, reference_mask(4, 4, 4)) and torch.equal(dn.attn_mask, reference_mask(3, 2, 4))


def test_batch_without_any_target_has_no_denoising_rows():
    empty = [{"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}] * 2
    for queries in small_builders(empty):
        assert queries.pad_size == 0 and queries.content.shape == (2, 0, 9) and queries.anchors.shape == (2, 0, 4)
        assert queries.attn_mask.shape == (4, 4) and not bool(queries.attn_mask.any())
        assert queries.positive_indices(2)[0][0].numel() == 0


def test_one_group_masks_only_matching_to_denoising():
    queries = build_dn_queries(TARGETS, nn.Embedding(6, 8), num_queries=2, num_groups=1, label_noise_ratio=0.0,
                               box_noise_scale=0.0, num_classes=5)
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[2:, :2] = True
    assert torch.equal(queries.attn_mask, expected)
    # without noise the rows are the clean targets
    assert torch.equal(queries.labels, torch.tensor([3, 1, 2]))
    assert torch.equal(queries.boxes, torch.cat([TARGETS[0]["boxes"], TARGETS[2]["boxes"]]))


def test_query_budget_is_a_one_line_config_error():
    with pytest.raises(DenoisingConfigError, match=r"needs 6 queries \(3 groups .* 2 boxes\).*budget of 5") as error:
        build_dn_queries(TARGETS, nn.Embedding(6, 8), num_queries=4, num_groups=3, label_noise_ratio=0.5,
                         box_noise_scale=0.4, num_classes=5, max_queries=5)
    assert "\n" not in str(error.value)
    with pytest.raises(DenoisingConfigError, match="budget"):
        small_builders(TARGETS, max_queries=15)  # DN fits (6), CDN needs 16
    many = [{"labels": torch.zeros(60, dtype=torch.int64), "boxes": torch.full((60, 4), 0.5)}]
    with pytest.raises(DenoisingConfigError, match="60 boxes needs 120 .* budget 2 x dn_number = 100") as cdn_error:
        build_cdn_queries(many, nn.Embedding(6, 8), num_queries=4, dn_number=50, label_noise_ratio=0.5,
                          box_noise_scale=0.4, num_classes=5)
    assert "\n" not in str(cdn_error.value)


@pytest.mark.parametrize("settings,key", [
    ({"num_groups": 0}, "MODEL.DN.NUM_GROUPS"),
    ({"label_noise_ratio": 1.5}, "MODEL.DN.LABEL_NOISE_RATIO"),
    ({"box_noise_scale": -0.1}, "MODEL.DN.BOX_NOISE_SCALE"),
    ({"max_queries": 0}, "MODEL.DN.MAX_QUERIES"),
])
def test_impossible_settings_fail_before_training(settings, key):
    valid = {"num_groups": 5, "label_noise_ratio": 0.2, "box_noise_scale": 0.4, "max_queries": None}
    check_denoising_settings(**valid)
    with pytest.raises(DenoisingConfigError, match=key) as error:
        check_denoising_settings(**{**valid, **settings})
    assert "\n" not in str(error.value)


def test_settings_errors_name_the_callers_keys():
    with pytest.raises(DenoisingConfigError, match=r"^MODEL.DINO.DN_LABEL_NOISE_RATIO must be in \[0, 1\]"):
        check_denoising_settings(num_groups=2, label_noise_ratio=-0.5, box_noise_scale=0.4, prefix="MODEL.DINO",
                                 keys={"label_noise_ratio": "MODEL.DINO.DN_LABEL_NOISE_RATIO"})
    with pytest.raises(DenoisingConfigError, match=r"^MODEL.DINO.BOX_NOISE_SCALE must be >= 0"):
        check_denoising_settings(num_groups=2, label_noise_ratio=0.5, box_noise_scale=-1, prefix="MODEL.DINO")


@pytest.mark.parametrize("dn_number,max_targets,groups", [
    (2, 5, 4), (49, 5, 98),      # below the threshold: 2 * dn_number groups
    (100, 5, 20), (50, 3, 16),   # a budget of 2 * dn_number queries
    (100, 0, 1), (0, 4, 1),      # no box / no groups asked: 1 (official)
])
def test_cdn_group_rule(dn_number, max_targets, groups):
    assert cdn_num_groups(dn_number, max_targets) == groups


# ----- noise -----

def test_dn_box_jitter_stays_within_its_bound():
    clean = boxes([0.5, 0.5, 0.2, 0.3], [0.4, 0.6, 0.1, 0.2]).repeat(500, 1)
    noised = jitter_boxes(clean, 0.4, torch.Generator().manual_seed(0))
    bound = torch.cat([clean[:, 2:] / 2, clean[:, 2:]], dim=1) * 0.4
    moved = (noised - clean).abs()
    assert bool((moved <= bound + 1e-7).all())  # float32 rounding of the bound
    assert bool((moved.amax(0) > 0.9 * bound.amax(0)).all())  # the draws reach the bound
    assert torch.equal(jitter_boxes(clean, 0.0), clean)


def test_cdn_negatives_move_farther_than_positives():
    clean = boxes([0.5, 0.5, 0.2, 0.3]).repeat(400, 1)
    negative = torch.arange(400) % 2 == 1
    noised = jitter_box_corners(clean, 0.4, negative, torch.Generator().manual_seed(0))
    unit = torch.cat([clean[:, 2:]] * 2, dim=1) / 2 * 0.4
    moved = (box_cxcywh_to_xyxy(noised) - box_cxcywh_to_xyxy(clean)).abs() / unit
    # corner shift in units of lambda * half size: [0, 1) for positives, [1, 2) for negatives (float32 slack 1e-5)
    assert bool((moved[~negative] < 1 + 1e-5).all()) and bool((moved[negative] > 1 - 1e-5).all())
    assert bool((moved[negative] < 2 + 1e-5).all())


def test_label_flips_follow_the_ratio():
    labels = torch.full((4000,), 7)
    generator = torch.Generator().manual_seed(0)
    targets = [{"labels": labels, "boxes": torch.full((4000, 4), 0.5)}]
    queries = build_dn_queries(targets, nn.Embedding(11, 4), num_queries=0, num_groups=1, label_noise_ratio=0.2,
                               box_noise_scale=0.0, num_classes=10, generator=generator)
    changed = (queries.labels != 7).float().mean()
    # 0.2 flip chance, 9/10 of the flips change the label: 0.18 (binomial std 0.006 at n = 4000)
    assert abs(float(changed) - 0.18) < 0.03 and int(queries.labels.max()) < 10


# ----- output split -----

def test_split_and_pack_denoising_outputs():
    queries = small_builders(TARGETS)[1]
    logits = torch.randn(3, 3, queries.pad_size + 4, 5)  # [L, B, P + Q, K]
    dn_part, matching = split_denoising(logits, queries.pad_size)
    assert dn_part.shape == (3, 3, queries.pad_size, 5) and matching.shape == (3, 3, 4, 5)
    assert torch.equal(torch.cat([dn_part, matching], dim=2), logits)
    packed = pack_denoising_outputs(dn_part, torch.rand(3, 3, queries.pad_size, 4), queries)
    assert packed["dn_queries"] is queries and torch.equal(packed["dn_outputs"]["pred_logits"], dn_part[-1])
    assert len(packed["dn_outputs"]["aux_outputs"]) == 2
    assert split_denoising(logits, 0)[0].shape[2] == 0
