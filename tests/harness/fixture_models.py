"""The official tiny fixture models (tests/fixtures/<method>/<variant>.tiny.pt) rebuilt with our modules.

A fixture model is built as Detectron2 builds any model, by the registered meta-architecture's
``from_config`` on a config that carries the fixture's official arguments, except that the backbone
is a stub returning the stored features (the fixtures stubbed the official trunk the same way).
Its weights are then loaded through our converter of the official checkpoint layout.
"""
from detectron2.config import get_cfg
from detectron2.modeling import META_ARCH_REGISTRY

from conditional_detr import add_conditional_detr_config, convert_conditional_detr_state_dict
from deformable_detr import add_deformable_detr_config, convert_deformable_detr_state_dict
from projects import add_detr_config
from projects.modeling.backbone import MaskedBackbone
from projects.checkpoint import check_conversion
from projects.detr.convert import convert_detr_state_dict
from smca import add_smca_config, convert_smca_state_dict
from tests.harness.fixture_utils import cached_fixture
from tests.harness.model_utils import StubBackbone

LEVEL_NAMES = ("res3", "res4", "res5")
# official --dynamic_scale type -> MODEL.SMCA.SCALE_MODE
SMCA_SCALE_MODES = {"single_scale_type1": "fixed", "single_scale_type2": "single", "single_scale_type3": "independent"}


def _detr_keys(cfg, fixture, variant):
    cfg.MODEL.META_ARCHITECTURE = "DETR"
    cfg.MODEL.DETR.CLASS_LOSS = "softmax"
    cfg.MODEL.DETR.NO_OBJECT_WEIGHT = fixture["args"]["eos_coef"]


def _focal_keys(cfg, args):
    detr = cfg.MODEL.DETR
    detr.CLASS_LOSS = "focal"
    detr.FOCAL_ALPHA = args.get("focal_alpha", 0.25)
    detr.CLASS_WEIGHT = args.get("cls_loss_coef", 2.0)  # official SMCA build(): a hard-coded class weight 2


def _deformable_keys(cfg, fixture, variant):
    args = fixture["args"]
    cfg.MODEL.META_ARCHITECTURE = "DeformableDETR"
    _focal_keys(cfg, args)
    options = cfg.MODEL.DEFORMABLE_DETR
    options.NUM_FEATURE_LEVELS = args["num_feature_levels"]
    options.ENC_N_POINTS, options.DEC_N_POINTS = args["enc_n_points"], args["dec_n_points"]
    options.WITH_BOX_REFINE, options.TWO_STAGE = args["with_box_refine"], args["two_stage"]


def _conditional_keys(cfg, fixture, variant):
    cfg.MODEL.META_ARCHITECTURE = "ConditionalDETR"
    _focal_keys(cfg, fixture["args"])


def _smca_keys(cfg, fixture, variant):
    args = fixture["args"]
    cfg.MODEL.META_ARCHITECTURE = "SMCA"
    _focal_keys(cfg, args)
    cfg.MODEL.DETR.NUM_CLASSES = fixture["state_dict"]["class_embed.weight"].shape[0]  # 92: COCO ids + no-object column
    cfg.MODEL.DETR.NUM_TOPK_TEST = args["num_queries"]  # official PostProcess: top num_queries pairs
    cfg.MODEL.SMCA.SCALE_MODE = SMCA_SCALE_MODES[variant]
    cfg.MODEL.SMCA.SMOOTH = float(args["smooth"])


METHODS = {  # method -> (add_<method>_config, method keys, converter of the official layout)
    "detr": (add_detr_config, _detr_keys, convert_detr_state_dict),
    "deformable_detr": (add_deformable_detr_config, _deformable_keys, convert_deformable_detr_state_dict),
    "conditional_detr": (add_conditional_detr_config, _conditional_keys, convert_conditional_detr_state_dict),
    "smca": (add_smca_config, _smca_keys, convert_smca_state_dict),
}


def fixture_cfg(method, variant):
    """A config whose MODEL.DETR (and method) keys are the fixture's official arguments."""
    fixture = cached_fixture(method, variant)
    args = fixture["args"]
    add_config, method_keys, _ = METHODS[method]
    cfg = get_cfg()
    add_config(cfg)
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    detr = cfg.MODEL.DETR
    detr.NUM_CLASSES = args["num_classes"]
    detr.HIDDEN_DIM, detr.NHEADS, detr.DROPOUT = args["hidden_dim"], args["nheads"], args["dropout"]
    detr.ENC_LAYERS, detr.DEC_LAYERS = args["enc_layers"], args["dec_layers"]
    detr.DIM_FEEDFORWARD, detr.NUM_OBJECT_QUERIES = args["dim_feedforward"], args["num_queries"]
    detr.COST_CLASS, detr.COST_BBOX = args["set_cost_class"], args["set_cost_bbox"]
    detr.COST_GIOU = args["set_cost_giou"]
    detr.L1_WEIGHT, detr.GIOU_WEIGHT = args["bbox_loss_coef"], args["giou_loss_coef"]
    method_keys(cfg, fixture, variant)
    return cfg


def build_with_stub_backbone(cfg, features, strides):
    """``cfg``'s meta-architecture, built by its ``from_config`` except for the backbone: a stub that
    returns ``features`` (levels named ..., res4, res5) with the given strides."""
    names = list(LEVEL_NAMES[-len(features):])
    # from_config builds the configured trunk before the stub replaces it: make that the cheapest ResNet
    cfg.MODEL.RESNETS.DEPTH, cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 18, 64
    cfg.MODEL.RESNETS.OUT_FEATURES, cfg.MODEL.DETR.IN_FEATURES = names, names
    meta_arch = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE)
    parts = meta_arch.from_config(cfg)
    parts["backbone"] = MaskedBackbone(StubBackbone(features, strides, names), names)
    return meta_arch(**parts)


def build_fixture_model(method, variant, opts=(), converted=True):
    """The fixture's tiny official architecture in eval mode, its weights loaded through our converter
    (``converted=False``: random init). ``opts``: config overrides, e.g.
    ``["MODEL.DEFORMABLE_DETR.ATTENTION_IMPL", "reference"]``."""
    fixture = cached_fixture(method, variant)
    inputs = fixture["inputs"]
    cfg = fixture_cfg(method, variant)
    cfg.merge_from_list(list(opts))
    strides = inputs.get("feature_strides", fixture["args"].get("stub_backbone_strides", [32]))
    model = build_with_stub_backbone(cfg, inputs["features"], strides)
    if converted:
        state = {k: v.float() for k, v in METHODS[method][2](fixture["state_dict"]).items()}
        check_conversion(model.state_dict(), state, ignore=[r"^backbone\."])  # the stub backbone has no weights
        model.load_state_dict(state, strict=False)
    return model.eval()
