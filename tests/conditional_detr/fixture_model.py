"""The tiny official Conditional DETR (tests/fixtures/conditional_detr/r50.tiny.pt) rebuilt with our modules.

Shared by the fixture-equivalence and converter-tool tests.
"""
import torch

from detectron2.config import get_cfg

from conditional_detr import ConditionalDETR, add_conditional_detr_config, make_conditional_detr_transformer
from projects.backbone import MaskedBackbone
from projects.criterion_builder import build_criterion
from projects.position_encoding import PositionEmbeddingSine
from tests.fixture_utils import load_fixture
from tests.model_utils import StubBackbone, image_batch

PIXEL_MEAN = [123.675, 116.28, 103.53]
PIXEL_STD = [58.395, 57.12, 57.375]


def load_conditional_fixture():
    return load_fixture("conditional_detr", "r50")


def fixture_cfg(args):
    """A config whose MODEL.DETR criterion keys equal the fixture's official args."""
    cfg = get_cfg()
    add_conditional_detr_config(cfg)
    detr = cfg.MODEL.DETR
    detr.NUM_CLASSES = args["num_classes"]
    detr.DEC_LAYERS = args["dec_layers"]
    detr.CLASS_LOSS = "focal"
    detr.FOCAL_ALPHA = args["focal_alpha"]
    detr.COST_CLASS, detr.COST_BBOX, detr.COST_GIOU = args["set_cost_class"], args["set_cost_bbox"], args["set_cost_giou"]
    detr.CLASS_WEIGHT, detr.L1_WEIGHT, detr.GIOU_WEIGHT = (
        args["cls_loss_coef"], args["bbox_loss_coef"], args["giou_loss_coef"])
    return cfg


def build_fixture_model(fixture):
    """The fixture's tiny architecture (stub backbone returning the stored C5 features), random init."""
    args = fixture["args"]
    features = fixture["inputs"]["features"]
    backbone = MaskedBackbone(StubBackbone(features, args["stub_backbone_strides"]), ["res5"])
    transformer = make_conditional_detr_transformer(
        d_model=args["hidden_dim"], nhead=args["nheads"], num_encoder_layers=args["enc_layers"],
        num_decoder_layers=args["dec_layers"], dim_feedforward=args["dim_feedforward"], dropout=args["dropout"])
    return ConditionalDETR(
        backbone=backbone, criterion=build_criterion(fixture_cfg(args)), pixel_mean=PIXEL_MEAN,
        pixel_std=PIXEL_STD, select_box="sigmoid_topk", num_topk_test=100, transformer=transformer,
        position_embedding=PositionEmbeddingSine(args["hidden_dim"] // 2), num_classes=args["num_classes"],
        num_queries=args["num_queries"],
    )


def run_fixture_batch(model, fixture):
    """Forward the fixture batch (two zero images of the stored sizes) in eval mode without gradients."""
    sizes = fixture["inputs"]["image_sizes"].tolist()
    images, pixel_mask = model.preprocess_image(image_batch(sizes))
    image_sizes = torch.as_tensor(images.image_sizes)
    with torch.no_grad():
        levels = model.backbone(images.tensor, pixel_mask)
        outputs = model.predict(levels, image_sizes, pixel_mask)
        results = model.inference(outputs, image_sizes)
    return {"pixel_mask": pixel_mask, "levels": levels, "outputs": outputs, "results": results}
