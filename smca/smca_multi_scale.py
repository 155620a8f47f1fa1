"""Multi-scale SMCA as the paper describes it (strides 16/32/64, intra/multi-scale encoder,
scale-selection co-attention). The official archive has no such model; see the package docstring."""
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.backbone import downsample_mask

from .meta_arch import SMCABase, smca_transformer_from_config


@META_ARCH_REGISTRY.register()
class SMCAMultiScale(SMCABase):
    """SMCA over several levels: 1x1 projections of the backbone levels (res4, res5) plus
    ``extra_levels`` 3x3 stride-2 convolutions, the first on the raw last backbone level
    (official multi-scale zip's stride-64 input, like Deformable DETR's extra level).

    The extra level's padding mask is the nearest-neighbour resize of the pixel mask, the rule of every
    other level (``downsample_mask``); the official zip resizes the stride-32 mask instead.
    """

    @configurable
    def __init__(self, *, extra_levels: int = 1, **kwargs):
        super().__init__(**kwargs)
        hidden_dim = self.transformer.d_model
        channels = self.backbone.num_channels
        self.input_proj = nn.ModuleList(nn.Conv2d(c, hidden_dim, kernel_size=1) for c in channels)
        self.extra_proj = nn.ModuleList(
            nn.Conv2d(channels[-1] if index == 0 else hidden_dim, hidden_dim, kernel_size=3, stride=2, padding=1)
            for index in range(extra_levels)
        )
        last = self.backbone.strides[-1]
        self.strides = list(self.backbone.strides) + [last * 2 ** (i + 1) for i in range(extra_levels)]
        if len(self.strides) != self.transformer.num_levels:
            raise ValueError(f"the transformer expects {self.transformer.num_levels} levels but the backbone "
                             f"and extra levels give {len(self.strides)}")

    @classmethod
    def from_config(cls, cfg):
        args = super().from_config(cfg)
        detr, smca = cfg.MODEL.DETR, cfg.MODEL.SMCA
        if detr.ENC_LAYERS != len(smca.ENCODER_BLOCKS):
            raise ValueError(f"MODEL.DETR.ENC_LAYERS ({detr.ENC_LAYERS}) must equal the number of "
                             f"MODEL.SMCA.ENCODER_BLOCKS ({list(smca.ENCODER_BLOCKS)})")
        backbone = args["backbone"]
        args["extra_levels"] = smca.EXTRA_LEVELS
        args["transformer"] = smca_transformer_from_config(
            cfg, unit_stride=backbone.strides[-1], num_levels=len(backbone.strides) + smca.EXTRA_LEVELS,
            encoder_blocks=smca.ENCODER_BLOCKS,
        )
        return args

    def input_levels(self, levels, pixel_mask):
        srcs = [proj(feature) for proj, (feature, _) in zip(self.input_proj, levels)]
        masks = [mask for _, mask in levels]
        extra = levels[-1][0]
        for conv in self.extra_proj:
            extra = conv(extra)
            srcs.append(extra)
            masks.append(downsample_mask(pixel_mask, extra.shape[-2:]))
        return srcs, masks, self.strides
