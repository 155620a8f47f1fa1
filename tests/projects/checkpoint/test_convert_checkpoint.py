"""tools/convert_checkpoint.py across methods: auto-detection of method and variant, the "not that family"
error naming what was found, --keep-coco-ids, and the converter registry."""
import re

import pytest
import torch

from projects.checkpoint import ConversionError, WrongCheckpointError, get_converter, identify, registered_converters
from tests.harness.convert_tool import load_convert_tool, save_official
from tests.harness.fixture_utils import FIXTURE_DIR, load_fixture
from tests.harness.model_utils import official_key_shapes, shape_only_state_dict

# (method, key list) of every full-size official key list; methods without variants detect as "".
KEY_LISTS = sorted((path.parent.name, path.name[:-len(".keys.json")]) for path in FIXTURE_DIR.glob("*/*.keys.json"))
HAS_VARIANTS = {"deformable_detr", "smca", "dab_detr", "dn_detr", "dino"}
# Key lists whose file name is not the variant's name (DINO's files carry the method as a prefix).
VARIANT_OF_KEY_LIST = {"dino_4scale": "4scale", "dino_5scale": "5scale"}
# One tiny official model per method, its class-head rows (official, reduced), and its class-head keys.
TINY = {
    "detr": ("r50", 92, 81, ["class_embed.weight"]),
    "conditional_detr": ("r50", 91, 80, ["class_embed.weight"]),
    # (its two-stage proposal head keeps the objectness row: tests/deformable_detr/test_conversion.py)
    "deformable_detr": ("two_stage", 91, 80, ["class_embed.0.weight", "class_embed.1.weight"]),
    "smca": ("single_scale_type3", 92, 80, ["class_embed.weight"]),
    "dab_detr": ("dab_deformable_detr", 91, 80, ["class_embed.0.weight", "class_embed.1.weight"]),
    "dn_detr": ("dn_dab_detr", 91, 80, ["class_embed.weight"]),
    "dino": ("dino_4scale", 91, 80, ["class_embed.0.weight", "transformer.enc_out_class_embed.weight"]),
}


@pytest.fixture(scope="module")
def tool():
    return load_convert_tool()  # imports every method package, which registers its converter


def expected_variant(method, key_list):
    return VARIANT_OF_KEY_LIST.get(key_list, key_list) if method in HAS_VARIANTS else ""


def test_every_method_registers_one_converter(tool):
    converters = registered_converters()  # from the registered methods' ``converter``
    assert sorted(converters) == ["conditional_detr", "dab_detr", "deformable_detr", "detr", "dino", "dn_detr", "smca"]
    assert all(get_converter(name).method == name for name in converters)
    with pytest.raises(ConversionError, match="No converter for method 'rt_detr'"):
        get_converter("rt_detr")


def test_key_lists_cover_every_method():
    assert {method for method, _ in KEY_LISTS} == set(TINY)
    assert len(KEY_LISTS) == 15


@pytest.mark.parametrize("method,key_list", KEY_LISTS)
def test_auto_detection_of_full_size_key_lists(tool, method, key_list, tmp_path, capsys):
    """Exactly one converter recognises each official key list, with the variant the list was made from;
    the CLI converts it (shape-only tensors) and names the method and variant it found."""
    official = shape_only_state_dict(official_key_shapes(method, key_list)[0])
    assert [(c.method, v) for c, v in identify(official)] == [(method, expected_variant(method, key_list))]
    source = tmp_path / "official.pth"
    torch.save({"model": official}, source)
    result = tool.main([str(source), str(tmp_path / "out.pth"), "--keep-coco-ids"])
    assert (result.converter.method, result.variant) == (method, expected_variant(method, key_list))
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'out.pth'}: {result.converter.describe(result.variant)}, ")


@pytest.mark.parametrize("asked,method,key_list,found", [
    ("detr", "deformable_detr", "two_stage", "a Deformable DETR checkpoint (variant two_stage)"),
    ("deformable_detr", "conditional_detr", "r50", "a Conditional DETR checkpoint"),
    ("conditional_detr", "smca", "single_scale_type1", "a SMCA checkpoint (variant single_scale_type1)"),
    ("smca", "detr", "r50", "a DETR checkpoint"),
])
def test_wrong_method_names_what_was_found(tool, tmp_path, asked, method, key_list, found):
    source = tmp_path / "official.pth"
    torch.save({"model": shape_only_state_dict(official_key_shapes(method, key_list)[0])}, source)
    family = get_converter(asked).family
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(source), str(tmp_path / "out.pth"), "--method", asked])
    assert str(exit_info.value) == (f"{source}: Not an official {family} checkpoint: it looks like {found}; "
                                    f"convert it with --method {method} (or --method auto)")
    assert not (tmp_path / "out.pth").exists()
    with pytest.raises(WrongCheckpointError, match=f"it looks like {re.escape(found)}"):  # the library's one type
        get_converter(asked).convert(load_fixture(method, key_list)["state_dict"], False)


def test_unknown_layout_is_refused_in_auto_mode(tool, tmp_path):
    source = save_official(tmp_path / "other.pth", {"head.weight": torch.zeros(2, 3)})
    with pytest.raises(SystemExit, match="Not an official checkpoint of any registered method .*none recognises"):
        tool.main([source, str(tmp_path / "out.pth")])


@pytest.mark.parametrize("method", sorted(TINY))
def test_keep_coco_ids(tool, tmp_path, method):
    """Default: the COCO-id rows are reduced to Detectron2's 80 classes (+ no-object for DETR's softmax head);
    --keep-coco-ids: every official row kept, in order. Rows are copied, not computed, so they compare exactly."""
    name, official_rows, reduced_rows, heads = TINY[method]
    official = load_fixture(method, name)["state_dict"]
    source = save_official(tmp_path / "official.pth", official)
    kept = tool.main([source, str(tmp_path / "kept.pth"), "--keep-coco-ids"]).state_dict
    reduced = tool.main([source, str(tmp_path / "reduced.pth")]).state_dict
    for head in heads:
        assert official[head].shape[0] == kept[head].shape[0] == official_rows
        torch.testing.assert_close(kept[head], official[head], atol=0, rtol=0)  # a copy: exact
        assert reduced[head].shape[0] == reduced_rows
        torch.testing.assert_close(reduced[head][0], official[head][1], atol=0, rtol=0)  # person = COCO id 1
    saved = torch.load(tmp_path / "reduced.pth", weights_only=True)
    assert set(saved) == {"model", "__source__"} and saved["__source__"] == source
    assert saved["model"][heads[0]].shape[0] == reduced_rows


def test_opts_need_a_config_file(tool, tmp_path):
    with pytest.raises(SystemExit):
        tool.main(["a.pth", str(tmp_path / "b.pth"), "--opts", "MODEL.DETR.NUM_CLASSES", "91"])


def test_a_config_of_another_method_is_refused(tool, tmp_path):
    source = save_official(tmp_path / "official.pth", load_fixture("detr", "r50")["state_dict"])
    refusal = "deformable_detr_r50_50ep.yaml builds DeformableDETR, but the checkpoint is DETR"
    with pytest.raises(SystemExit, match=refusal):
        tool.main([source, str(tmp_path / "out.pth"), "--config-file",
                   "configs/deformable_detr/deformable_detr_r50_50ep.yaml"])
    assert not (tmp_path / "out.pth").exists()

