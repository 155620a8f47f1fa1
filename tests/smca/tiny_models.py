"""Builders shared by the SMCA tests: the tiny official fixture model and small multi-scale models."""
from pathlib import Path

import torch

from detectron2.config import get_cfg

from projects.backbone import MaskedBackbone
from projects.checkpoint import check_conversion
from projects.criterion_builder import build_criterion
from projects.position_encoding import PositionEmbeddingSine
from smca import SMCA, SMCAMultiScale, add_smca_config, convert_smca_state_dict, make_smca_transformer
from tests.model_utils import StubBackbone, image_batch

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# official dynamic_scale type -> MODEL.SMCA.SCALE_MODE
VARIANTS = {"single_scale_type1": "fixed", "single_scale_type2": "single", "single_scale_type3": "independent"}
PIXEL_STATS = {"pixel_mean": [123.675, 116.28, 103.53], "pixel_std": [58.395, 57.12, 57.375]}


def criterion_cfg(args, num_classes):
    """The official SMCA criterion settings (focal loss, class cost/weight 2) as a config."""
    cfg = get_cfg()
    add_smca_config(cfg)
    detr = cfg.MODEL.DETR
    detr.NUM_CLASSES = num_classes
    detr.CLASS_LOSS = "focal"
    detr.DEC_LAYERS = args["dec_layers"]
    detr.COST_CLASS, detr.COST_BBOX = args["set_cost_class"], args["set_cost_bbox"]
    detr.COST_GIOU = args["set_cost_giou"]
    detr.CLASS_WEIGHT = 2.0  # official build(): hard-coded loss_ce weight 2
    detr.L1_WEIGHT, detr.GIOU_WEIGHT = args["bbox_loss_coef"], args["giou_loss_coef"]
    return cfg


def build_tiny_official_smca(fixture, scale_mode):
    """The tiny official single-scale SMCA rebuilt with our modules, weights loaded through the converter."""
    args, inputs = fixture["args"], fixture["inputs"]
    num_classes = fixture["state_dict"]["class_embed.weight"].shape[0]  # 92: COCO ids + no-object column
    transformer = make_smca_transformer(
        d_model=args["hidden_dim"], nhead=args["nheads"], encoder_blocks=["intra"] * args["enc_layers"],
        num_decoder_layers=args["dec_layers"], dim_feedforward=args["dim_feedforward"], dropout=args["dropout"],
        scale_mode=scale_mode, smooth=args["smooth"], unit_stride=32,
    )
    model = SMCA(
        backbone=MaskedBackbone(StubBackbone(inputs["features"], [32]), ["res5"]),
        criterion=build_criterion(criterion_cfg(args, num_classes)), select_box="sigmoid_topk",
        num_topk_test=args["num_queries"], transformer=transformer,
        position_embedding=PositionEmbeddingSine(args["hidden_dim"] // 2), num_classes=num_classes,
        num_queries=args["num_queries"], **PIXEL_STATS,
    )
    state = {k: v.float() for k, v in convert_smca_state_dict(fixture["state_dict"]).items()}
    check_conversion(model.state_dict(), state, ignore=[r"^backbone\."])
    model.load_state_dict(state, strict=False)
    return model.eval()


def run_fixture_batch(model, fixture):
    """Forward the fixture batch; capture every decoder layer's output (before the shared norm)."""
    images, pixel_mask = model.preprocess_image(image_batch(fixture["inputs"]["image_sizes"].tolist()))
    image_sizes = torch.as_tensor(images.image_sizes)
    layer_outputs = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: layer_outputs.append(out[0]))
             for layer in model.transformer.decoder.layers]
    offsets = []
    hooks += [layer.prior.offset_head.register_forward_hook(lambda _m, _i, out: offsets.append(out))
              for layer in model.transformer.decoder.layers]
    with torch.no_grad():
        levels = model.backbone(images.tensor, pixel_mask)
        transformer_out = model.run_transformer(levels, image_sizes, pixel_mask)
        outputs = model.heads(transformer_out.hs, transformer_out.center_logits)
        results = model.inference(outputs, image_sizes)
    for hook in hooks:
        hook.remove()
    return {"pixel_mask": pixel_mask, "levels": levels, "image_sizes": image_sizes, "transformer": transformer_out,
            "layer_outputs": layer_outputs, "offsets": offsets, "outputs": outputs, "results": results}


def random_levels(batch=2, channels=(32, 64), sizes=((10, 12), (5, 6)), seed=0):
    """Random stub features for strides 16 and 32 (a 320 x 384 padded batch)."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, h, w, generator=generator) for c, (h, w) in zip(channels, sizes)]


def build_small_multi_scale(encoder_blocks=("intra", "intra", "multi", "intra", "intra"), scale_selection=True,
                            shared_projections=False, head_shared=False, scale_mode="independent", d_model=32,
                            nhead=4, features=None):
    """A small SMCAMultiScale on stub features (res4, res5) + one extra level, random init."""
    features = features or random_levels()
    cfg = criterion_cfg({"dec_layers": 2, "set_cost_class": 2, "set_cost_bbox": 5, "set_cost_giou": 2,
                         "bbox_loss_coef": 5, "giou_loss_coef": 2}, num_classes=5)
    transformer = make_smca_transformer(
        d_model=d_model, nhead=nhead, encoder_blocks=list(encoder_blocks), num_decoder_layers=2,
        dim_feedforward=64, dropout=0.0, scale_mode=scale_mode, head_shared=head_shared, unit_stride=32,
        num_levels=3, scale_selection=scale_selection, shared_projections=shared_projections,
    )
    return SMCAMultiScale(
        backbone=MaskedBackbone(StubBackbone(features, [16, 32]), ["res4", "res5"]),
        criterion=build_criterion(cfg), select_box="sigmoid_topk", num_topk_test=20, transformer=transformer,
        position_embedding=PositionEmbeddingSine(d_model // 2), num_classes=5, num_queries=10, extra_levels=1,
        **PIXEL_STATS,
    )
