"""Multi-scale SMCA as the paper describes it (strides 16/32/64, intra/multi-scale encoder,
scale-selection co-attention). The official archive has no such model; see the package docstring."""
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.layers.input_proj import build_level_projections, project_levels

from .meta_arch import SMCABase
from .transformer import build_smca_transformer


@META_ARCH_REGISTRY.register()
class SMCAMultiScale(SMCABase):
    """SMCA over several levels: 1x1 projections of the backbone levels (res4, res5) plus
    ``extra_levels`` 3x3 stride-2 convolutions, the first on the raw last backbone level
    (official multi-scale zip's stride-64 input, like Deformable DETR's extra level).

    The extra level's padding mask is the nearest-neighbour resize of the pixel mask, the rule of every
    other level (``downsample_mask``); the official zip resizes the stride-32 mask instead. The
    projections are plain convs (no GroupNorm), named ``input_proj.<l>`` and ``extra_proj.<i>``.
    """

    @configurable
    def __init__(self, *, extra_levels: int = 1, **kwargs):
        super().__init__(**kwargs)
        hidden_dim = self.transformer.d_model
        backbone_projections, extra_projections = build_level_projections(
            self.backbone.num_channels, hidden_dim, extra_levels)
        self.input_proj = nn.ModuleList(backbone_projections)
        self.extra_proj = nn.ModuleList(extra_projections)
        last = self.backbone.strides[-1]
        self.strides = list(self.backbone.strides) + [last * 2 ** (i + 1) for i in range(extra_levels)]
        if len(self.strides) != self.transformer.num_levels:
            raise ValueError(f"the transformer expects {self.transformer.num_levels} levels but the backbone "
                             f"and extra levels give {len(self.strides)}")

    @classmethod
    def from_config(cls, cfg):
        args = super().from_config(cfg)
        args["extra_levels"] = cfg.MODEL.SMCA.EXTRA_LEVELS
        args["transformer"] = build_smca_transformer(cfg, unit_stride=args["backbone"].strides[-1], multi_scale=True)
        return args

    def input_levels(self, levels, pixel_mask):
        projected = project_levels(self.input_proj, self.extra_proj, levels, pixel_mask)
        return [src for src, _ in projected], [mask for _, mask in projected], self.strides
