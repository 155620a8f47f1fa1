"""The official tiny fixture models (tests/fixtures/<method>/<variant>.tiny.pt) rebuilt with our modules.

A fixture model is built as Detectron2 builds any model, by the registered meta-architecture's
``from_config`` on a config that carries the fixture's official arguments (the method's registered
``official_config``, tests.harness.fixture_utils.fixture_cfg), except that the backbone is a stub
returning the stored features (the fixtures stubbed the official trunk the same way). Its weights are
then loaded through the method's registered converter of the official checkpoint layout.
"""
from detectron2.modeling import META_ARCH_REGISTRY

from projects.checkpoint import check_conversion
from projects.modeling.backbone import MaskedBackbone
from projects.registry import get_method
from tests.harness.fixture_utils import cached_fixture, fixture_cfg
from tests.harness.model_utils import StubBackbone

LEVEL_NAMES = ("res3", "res4", "res5")

__all__ = ["LEVEL_NAMES", "build_fixture_model", "build_with_stub_backbone", "fixture_cfg"]


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
        state = {k: v.float() for k, v in get_method(method).converter.convert(fixture["state_dict"]).items()}
        check_conversion(model.state_dict(), state, ignore=[r"^backbone\."])  # the stub backbone has no weights
        model.load_state_dict(state, strict=False)
    return model.eval()
