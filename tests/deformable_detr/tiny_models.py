"""Build the official tiny Deformable DETR fixtures' models with our modules (weights through our converter)."""
from functools import lru_cache

import torch

from detectron2.config import get_cfg

from deformable_detr import DeformableDETR, add_deformable_detr_config, convert_deformable_detr_state_dict
from deformable_detr.build import build_deformable_transformer
from deformable_detr.convert import PAPER_VARIANTS
from projects.backbone import MaskedBackbone
from projects.checkpoint import check_conversion
from projects.criterion_builder import build_criterion
from projects.position_encoding import PositionEmbeddingSine
from tests.fixture_utils import load_fixture
from tests.model_utils import StubBackbone, image_batch

VARIANTS = tuple(PAPER_VARIANTS)
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]


@lru_cache(maxsize=None)
def fixture(variant):
    return load_fixture("deformable_detr", variant)


def tiny_cfg(args, attention_impl="auto"):
    """A config carrying the fixture's official arguments."""
    cfg = get_cfg()
    add_deformable_detr_config(cfg)
    detr = cfg.MODEL.DETR
    detr.NUM_CLASSES = args["num_classes"]
    detr.HIDDEN_DIM, detr.NHEADS = args["hidden_dim"], args["nheads"]
    detr.ENC_LAYERS, detr.DEC_LAYERS = args["enc_layers"], args["dec_layers"]
    detr.DIM_FEEDFORWARD, detr.DROPOUT = args["dim_feedforward"], args["dropout"]
    detr.NUM_OBJECT_QUERIES = args["num_queries"]
    detr.CLASS_LOSS, detr.FOCAL_ALPHA = "focal", args["focal_alpha"]
    detr.COST_CLASS, detr.COST_BBOX, detr.COST_GIOU = args["set_cost_class"], args["set_cost_bbox"], args["set_cost_giou"]
    detr.CLASS_WEIGHT, detr.L1_WEIGHT, detr.GIOU_WEIGHT = args["cls_loss_coef"], args["bbox_loss_coef"], args["giou_loss_coef"]
    options = cfg.MODEL.DEFORMABLE_DETR
    options.NUM_FEATURE_LEVELS = args["num_feature_levels"]
    options.ENC_N_POINTS, options.DEC_N_POINTS = args["enc_n_points"], args["dec_n_points"]
    options.WITH_BOX_REFINE, options.TWO_STAGE = args["with_box_refine"], args["two_stage"]
    options.ATTENTION_IMPL = attention_impl
    return cfg


def build_tiny_model(variant, attention_impl="auto"):
    """The fixture's official model rebuilt with our modules, its weights loaded through the converter."""
    data = fixture(variant)
    args, inputs = data["args"], data["inputs"]
    cfg = tiny_cfg(args, attention_impl)
    names = ["res3", "res4", "res5"][-len(inputs["features"]):]
    backbone = MaskedBackbone(StubBackbone(inputs["features"], inputs["feature_strides"], names), names)
    model = DeformableDETR(
        backbone=backbone, criterion=build_criterion(cfg, two_stage=args["two_stage"]),
        pixel_mean=IMAGENET_MEAN, pixel_std=IMAGENET_STD, select_box="sigmoid_topk", num_topk_test=100,
        transformer=build_deformable_transformer(cfg),
        position_embedding=PositionEmbeddingSine(args["hidden_dim"] // 2, offset=-0.5),
        num_classes=args["num_classes"], num_queries=args["num_queries"], with_box_refine=args["with_box_refine"],
    )
    state = {k: v.float() for k, v in convert_deformable_detr_state_dict(data["state_dict"]).items()}
    check_conversion(model.state_dict(), state, ignore=[r"^backbone\."])
    model.load_state_dict(state, strict=False)
    return model.eval()


def run_fixture_batch(model, variant):
    """Run the fixture batch; returns outputs, the transformer's intermediate result, levels and detections."""
    inputs = fixture(variant)["inputs"]
    captured = {}
    hook = model.transformer.register_forward_hook(lambda module, args, output: captured.update(result=output))
    try:
        with torch.no_grad():
            images, pixel_mask = model.preprocess_image(image_batch(inputs["image_sizes"].tolist()))
            image_sizes = torch.as_tensor(images.image_sizes)
            levels = model.backbone(images.tensor, pixel_mask)
            projected = model.input_proj(levels, pixel_mask)
            outputs = model.predict(levels, image_sizes, pixel_mask)
            results = model.inference(outputs, image_sizes)
    finally:
        hook.remove()
    return {"pixel_mask": pixel_mask, "projected": projected, "outputs": outputs,
            "transformer": captured["result"], "results": results}
