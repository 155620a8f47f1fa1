"""DAB-DETR's configs: the official schedule, loss weights and optimizer groups; the method's keys and
their one-line errors (before training)."""
import math
from pathlib import Path

import pytest

from detectron2.modeling import build_model

from dab_detr import DABDeformableDETR, DABDETR
from projects.config import load_config
from projects.engine.solver import build_detr_optimizer
from projects.modeling.denoising import DenoisingConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "configs" / "dab_detr"
SCHEDULE_CONFIGS = sorted(CONFIG_DIR.glob("*_r50_50ep.yaml"))
QUICKSTART = {"DABDETR": "configs/quickstart/dab_detr_embedded.yaml",
              "DABDeformableDETR": "configs/quickstart/dab_deformable_detr_embedded.yaml"}
EMBEDDED = sorted((ROOT / "configs" / "embedded_pretrained").glob("*dab_*.yaml"))
ITERATIONS_PER_EPOCH = math.ceil(118_287 / 16)  # COCO train2017 at the official total batch 16 (8 GPUs x 2)
TINY = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.DETR.HIDDEN_DIM", "32", "MODEL.DETR.NHEADS", "4",
        "MODEL.DETR.ENC_LAYERS", "1", "MODEL.DETR.DEC_LAYERS", "1", "MODEL.DETR.DIM_FEEDFORWARD", "32"]


def test_the_four_official_models_have_configs():
    names = {path.stem for path in SCHEDULE_CONFIGS}
    assert names == {"dab_detr_r50_50ep", "dab_deformable_detr_r50_50ep", "dn_dab_detr_r50_50ep",
                     "dn_dab_deformable_detr_r50_50ep"}
    assert {path.stem for path in EMBEDDED} == {"dab_detr", "dab_deformable_detr", "dn_dab_detr",
                                                "dn_dab_deformable_detr"}


@pytest.mark.parametrize("path", SCHEDULE_CONFIGS, ids=lambda p: p.stem)
def test_official_schedule_and_losses(path):
    """README: 50 epochs, LR x0.1 after 40; lr 1e-4, backbone 1e-5; class weight 1 (not 2), costs 2/5/2."""
    cfg = load_config(str(path))
    deformable = "deformable" in path.stem
    assert cfg.MODEL.META_ARCHITECTURE == ("DABDeformableDETR" if deformable else "DABDETR")
    assert (cfg.SOLVER.IMS_PER_BATCH, cfg.SOLVER.MAX_ITER) == (16, 50 * ITERATIONS_PER_EPOCH)
    assert tuple(cfg.SOLVER.STEPS) == (40 * ITERATIONS_PER_EPOCH,)
    assert (cfg.SOLVER.BASE_LR, cfg.SOLVER.BACKBONE_MULTIPLIER, cfg.SOLVER.LINEAR_PROJ_NAMES) == (1e-4, 0.1, [])
    detr = cfg.MODEL.DETR
    assert (detr.CLASS_LOSS, detr.CLASS_WEIGHT, detr.L1_WEIGHT, detr.GIOU_WEIGHT) == ("focal", 1.0, 5.0, 2.0)
    assert (detr.COST_CLASS, detr.COST_BBOX, detr.COST_GIOU) == (2.0, 5.0, 2.0)
    assert (detr.NUM_OBJECT_QUERIES, detr.DIM_FEEDFORWARD, detr.DROPOUT) == (300, 2048, 0.0)
    assert detr.NUM_TOPK_TEST == (100 if deformable else 300)  # official num_select / hard-coded 100
    assert cfg.MODEL.DAB_DETR.ACTIVATION == ("relu" if deformable else "prelu")
    assert cfg.MODEL.DN.ENABLED == path.stem.startswith("dn_")
    if cfg.MODEL.DN.ENABLED:
        assert (cfg.MODEL.DN.NUM_GROUPS, cfg.MODEL.DN.LABEL_NOISE_RATIO, cfg.MODEL.DN.BOX_NOISE_SCALE) == (5, 0.2, 0.4)


@pytest.mark.parametrize("architecture", sorted(QUICKSTART))
def test_two_parameter_groups_as_the_official_optimizer(architecture):
    """Official main.py: the backbone at lr_backbone, everything else at lr (no other group)."""
    cfg = load_config(QUICKSTART[architecture], TINY + ["SOLVER.BACKBONE_MULTIPLIER", "0.1"])
    model = build_model(cfg)
    assert isinstance(model, DABDETR if architecture == "DABDETR" else DABDeformableDETR)
    optimizer = build_detr_optimizer(cfg, model)
    rates = {group["lr"] for group in optimizer.param_groups}
    assert rates == {cfg.SOLVER.BASE_LR, cfg.SOLVER.BASE_LR * 0.1}


@pytest.mark.parametrize("architecture", sorted(QUICKSTART))
@pytest.mark.parametrize("opts,error,message", [
    (["MODEL.DN.ENABLED", "True", "MODEL.DN.NUM_GROUPS", "0"], DenoisingConfigError,
     r"MODEL\.DN\.NUM_GROUPS must be >= 1"),
    (["MODEL.DN.ENABLED", "True", "MODEL.DN.LABEL_NOISE_RATIO", "1.5"], DenoisingConfigError, "LABEL_NOISE_RATIO"),
    (["MODEL.DETR.CLASS_LOSS", "softmax"], ValueError, "focal"),
    (["MODEL.DETR.PRE_NORM", "True"], ValueError, "PRE_NORM"),
])
def test_config_mistakes_fail_before_training_in_one_line(architecture, opts, error, message):
    cfg = load_config(QUICKSTART[architecture], TINY + opts)
    with pytest.raises(error, match=message) as raised:
        build_model(cfg)
    assert "\n" not in str(raised.value)


def test_deformable_keys_are_checked():
    cfg = load_config(QUICKSTART["DABDeformableDETR"], TINY + ["MODEL.DAB_DETR.ATTENTION_IMPL", "cuda"])
    with pytest.raises(ValueError, match="MODEL.DAB_DETR.ATTENTION_IMPL must be one of"):
        build_model(cfg)
    cfg = load_config(QUICKSTART["DABDETR"], TINY + ["MODEL.DAB_DETR.ACTIVATION", "swish"])
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        build_model(cfg)


def test_denoising_adds_only_the_label_embedding():
    """DN-DAB-DETR's checkpoint = DAB-DETR's + label_enc (K + 1 rows, C - 1 wide); the deformable model's
    learned content is one channel narrower (the last channel is the denoising indicator)."""
    for architecture, narrower in (("DABDETR", ()), ("DABDeformableDETR", ("tgt_embed.weight",))):
        plain = build_model(load_config(QUICKSTART[architecture], TINY)).state_dict()
        dn = build_model(load_config(QUICKSTART[architecture], TINY + ["MODEL.DN.ENABLED", "True"])).state_dict()
        assert set(dn) - set(plain) == {"label_enc.weight"}
        assert tuple(dn["label_enc.weight"].shape) == (5, 31)  # 4 classes + no object, HIDDEN_DIM - 1
        for name in narrower:
            assert dn[name].shape[-1] == plain[name].shape[-1] - 1


@pytest.mark.parametrize("checkpoint_of,model_of,found", [
    ("DABDeformableDETR", "DABDETR", "DABDeformableDETR"), ("DABDETR", "DABDeformableDETR", "DABDETR")])
def test_a_checkpoint_of_the_other_dab_model_is_named_in_one_line(checkpoint_of, model_of, found):
    """MODEL.WEIGHTS of the other DAB model: the registered checkpoint signatures name it (longest match wins
    over Conditional DETR's and Deformable DETR's, whose fragments these checkpoints also contain)."""
    from projects.checkpoint import WeightsMismatchError, check_weights_fit

    checkpoint = build_model(load_config(QUICKSTART[checkpoint_of], TINY)).state_dict()
    model = build_model(load_config(QUICKSTART[model_of], TINY)).state_dict()
    with pytest.raises(WeightsMismatchError, match=rf"\(method found: {found}\) does not fit") as raised:
        check_weights_fit(model, checkpoint, model_method=model_of)
    assert "\n" not in str(raised.value)
