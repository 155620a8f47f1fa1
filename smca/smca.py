"""Single-scale SMCA (Gao et al. 2021) as a Detectron2 meta-architecture (official single-scale code)."""
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.input_proj import level_projection

from .meta_arch import SMCABase
from .transformer import build_smca_transformer


@META_ARCH_REGISTRY.register()
class SMCA(SMCABase):
    """SMCA on one backbone level (res5, stride 32): 1x1 projection, DETR encoder, SMCA decoder.

    Centres are unnormalised to cells of that level's stride (official: /32 for C5).
    """

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        in_channels = self.backbone.single_level_channels(
            "single-scale SMCA", "set MODEL.DETR.IN_FEATURES to one level or use SMCAMultiScale")
        self.input_proj = level_projection(in_channels, self.transformer.d_model)

    @classmethod
    def from_config(cls, cfg):
        args = super().from_config(cfg)
        args["transformer"] = build_smca_transformer(cfg, unit_stride=args["backbone"].strides[-1])
        return args

    def input_levels(self, levels, pixel_mask):
        feature, mask = levels[-1]
        return [self.input_proj(feature)], [mask], [self.backbone.strides[-1]]
