"""EfficientNet-Lite (Tan & Le 2019, the "lite" variants of the TF TPU repository) as a Detectron2 backbone.

Lite = EfficientNet-B without squeeze-excitation, with ReLU6, and with the stem (32 channels), the head
(1280 channels) and the first and last stage's repeats left unscaled by the width/depth multipliers
(official ``efficientnet_lite_builder.py``). Convolutions pad like TensorFlow's "SAME" (asymmetric for
stride 2: the extra row/column goes bottom/right), which is how the ImageNet weights were trained.

Outputs (names as the ResNet path, so a config switches trunk by MODEL.BACKBONE.NAME alone):
``res2`` stride 4 (after stage 2), ``res3`` stride 8 (stage 3), ``res4`` stride 16 (stage 5) and
``res5`` stride 32 (the 1x1 head conv after stage 7; 1280 channels).
"""
import math
from typing import Dict, List, NamedTuple, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.layers import Conv2d, FrozenBatchNorm2d, ShapeSpec, get_norm
from detectron2.modeling import BACKBONE_REGISTRY, Backbone

BN_EPS = 1e-3  # the TF training's batch_norm_epsilon (PyTorch's default 1e-5 would shift every activation)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
WIDTH_DIVISOR = 8


class StageSpec(NamedTuple):
    """One EfficientNet-B0 stage: repeats, depthwise kernel, stride of its first block, expansion, out channels."""
    repeats: int
    kernel: int
    stride: int
    expand: int
    channels: int


# EfficientNet-B0 / Lite0 stages 1..7 (paper table 1).
B0_STAGES = (
    StageSpec(1, 3, 1, 1, 16), StageSpec(2, 3, 2, 6, 24), StageSpec(2, 5, 2, 6, 40), StageSpec(3, 3, 2, 6, 80),
    StageSpec(3, 5, 1, 6, 112), StageSpec(4, 5, 2, 6, 192), StageSpec(1, 3, 1, 6, 320),
)


class Variant(NamedTuple):
    """Compound-scaling coefficients of one Lite variant and the input resolution it was trained at."""
    width: float
    depth: float
    resolution: int


VARIANTS = {  # official efficientnet_lite_builder.py (lite3/lite4 have no packaged weights here)
    "lite0": Variant(1.0, 1.0, 224),
    "lite1": Variant(1.0, 1.1, 240),
    "lite2": Variant(1.1, 1.2, 260),
    "lite3": Variant(1.2, 1.4, 280),
    "lite4": Variant(1.4, 1.8, 300),
}

# Which stages (1-based) end at each output; FREEZE_AT = k freezes the stem and the groups of res2..res<k>.
LEVEL_STAGES = {"res2": (1, 2), "res3": (3,), "res4": (4, 5), "res5": (6, 7)}
LEVEL_STRIDES = {"res2": 4, "res3": 8, "res4": 16, "res5": 32}


def scale_width(channels: int, width: float) -> int:
    """Channels x width rounded to a multiple of 8, never more than 10% below (official round_filters)."""
    scaled = channels * width
    rounded = max(WIDTH_DIVISOR, int(scaled + WIDTH_DIVISOR / 2) // WIDTH_DIVISOR * WIDTH_DIVISOR)
    return int(rounded + WIDTH_DIVISOR if rounded < 0.9 * scaled else rounded)


def scaled_stages(variant: Variant) -> List[StageSpec]:
    """B0_STAGES with widths and (except the first and last stage) repeats scaled for ``variant``."""
    last = len(B0_STAGES) - 1
    stages = []
    for index, spec in enumerate(B0_STAGES):
        repeats = spec.repeats if index in (0, last) else int(math.ceil(spec.repeats * variant.depth))
        stages.append(spec._replace(repeats=repeats, channels=scale_width(spec.channels, variant.width)))
    return stages


def make_norm(norm: str, channels: int) -> nn.Module:
    """Detectron2's ``get_norm`` ("FrozenBN", "BN", "SyncBN", ...) with the weights' epsilon."""
    layer = get_norm(norm, channels)
    if layer is None:
        raise ValueError(f"MODEL.EFFICIENTNET.NORM must name a normalisation (e.g. 'FrozenBN', 'BN'), got {norm!r}")
    layer.eps = BN_EPS
    return layer


class SameConv2d(Conv2d):
    """Detectron2's Conv2d (conv -> norm -> activation) padded like TF "SAME": output = ceil(input / stride),
    total padding split with the odd pixel at the bottom/right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def conv_norm(in_ch: int, out_ch: int, kernel: int, stride: int, norm: str, act: bool, groups: int = 1):
    """A bias-free SAME conv with its norm and (optionally) ReLU6."""
    return SameConv2d(in_ch, out_ch, kernel, stride=stride, groups=groups, bias=False,
                      norm=make_norm(norm, out_ch), activation=nn.ReLU6() if act else None)


class MBConv(nn.Module):
    """Inverted residual block without SE: [1x1 expand] -> kxk depthwise -> 1x1 project (+ identity)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, norm: str):
        super().__init__()
        mid = in_ch * expand
        self.expand = conv_norm(in_ch, mid, 1, 1, norm, act=True) if expand != 1 else None
        self.depthwise = conv_norm(mid, mid, kernel, stride, norm, act=True, groups=mid)
        self.project = conv_norm(mid, out_ch, 1, 1, norm, act=False)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, in_ch, H, W] -> [B, out_ch, H / stride, W / stride]."""
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class EfficientNetLite(Backbone):
    """The EfficientNet-Lite trunk: ``stem``, ``stage1`` .. ``stage7`` (nn.Sequential of MBConv) and
    ``conv_head``; built up to the last level in ``out_features``."""

    def __init__(self, variant: str = "lite0", out_features: Sequence[str] = ("res5",), norm: str = "FrozenBN",
                 freeze_at: int = 0):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"MODEL.EFFICIENTNET.VARIANT must be one of {sorted(VARIANTS)}, got {variant!r}")
        unknown = [name for name in out_features if name not in LEVEL_STAGES]
        if unknown or not out_features:
            raise ValueError(f"MODEL.EFFICIENTNET.OUT_FEATURES must be a non-empty subset of "
                             f"{list(LEVEL_STAGES)}, got {list(out_features)}")
        self.variant = variant
        self._out_features = [name for name in LEVEL_STAGES if name in out_features]
        self.stem = conv_norm(3, STEM_CHANNELS, 3, 2, norm, act=True)
        self._build_stages(scaled_stages(VARIANTS[variant]), norm)
        self.freeze(freeze_at)

    def _build_stages(self, stages: List[StageSpec], norm: str) -> None:
        last_stage = LEVEL_STAGES[self._out_features[-1]][-1]
        in_ch = STEM_CHANNELS
        for index, spec in enumerate(stages[:last_stage], start=1):
            blocks = [MBConv(in_ch if i == 0 else spec.channels, spec.channels, spec.kernel,
                             spec.stride if i == 0 else 1, spec.expand, norm) for i in range(spec.repeats)]
            self.add_module(f"stage{index}", nn.Sequential(*blocks))
            in_ch = spec.channels
        self._out_feature_channels = {name: stages[LEVEL_STAGES[name][-1] - 1].channels for name in LEVEL_STAGES}
        self._out_feature_strides = dict(LEVEL_STRIDES)
        if "res5" in self._out_features:
            self.conv_head = conv_norm(in_ch, HEAD_CHANNELS, 1, 1, norm, act=True)
            self._out_feature_channels["res5"] = HEAD_CHANNELS
        self.num_stages = min(last_stage, len(stages))

    def freeze(self, freeze_at: int = 0) -> "EfficientNetLite":
        """As Detectron2's ResNet: 1 freezes the stem, k >= 2 also res2 .. res<k> (their stages and, for res5,
        the head conv); frozen parts stop learning and their BatchNorms become FrozenBatchNorm2d."""
        parts = ["stem"] if freeze_at >= 1 else []
        for level_index, (name, stages) in enumerate(LEVEL_STAGES.items(), start=2):
            if freeze_at >= level_index:
                parts += [f"stage{s}" for s in stages] + (["conv_head"] if name == "res5" else [])
        for part in parts:
            module = getattr(self, part, None)
            if module is None:
                continue
            for param in module.parameters():
                param.requires_grad_(False)
            FrozenBatchNorm2d.convert_frozen_batchnorm(module)
        return self

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x: [B, 3, H, W] normalised pixels -> {name: [B, C_name, ceil(H / s), ceil(W / s)]} for OUT_FEATURES."""
        outputs = {}
        x = self.stem(x)
        for index in range(1, self.num_stages + 1):
            x = getattr(self, f"stage{index}")(x)
            for name in self._out_features:
                if LEVEL_STAGES[name][-1] == index and name != "res5":  # res5 is the head conv's output
                    outputs[name] = x
        if "res5" in self._out_features:
            outputs["res5"] = self.conv_head(x)
        return outputs

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
                for name in self._out_features}


@BACKBONE_REGISTRY.register()
def build_efficientnet_lite_backbone(cfg, input_shape: ShapeSpec) -> EfficientNetLite:
    """MODEL.EFFICIENTNET.{VARIANT, OUT_FEATURES, NORM} and MODEL.BACKBONE.FREEZE_AT."""
    if input_shape.channels != 3:
        raise ValueError(f"EfficientNet-Lite takes 3-channel images, got MODEL.PIXEL_MEAN of {input_shape.channels}")
    ecfg = cfg.MODEL.EFFICIENTNET
    return EfficientNetLite(ecfg.VARIANT, ecfg.OUT_FEATURES, ecfg.NORM, cfg.MODEL.BACKBONE.FREEZE_AT)


def add_efficientnet_config(cfg) -> None:
    """MODEL.EFFICIENTNET: the EfficientNet-Lite trunk's keys (idempotent)."""
    from detectron2.config import CfgNode as CN

    if "EFFICIENTNET" in cfg.MODEL:
        return
    cfg.MODEL.EFFICIENTNET = CN()
    cfg.MODEL.EFFICIENTNET.VARIANT = "lite0"  # lite0 / lite1 / lite2 have ImageNet weights (MODEL.WEIGHTS)
    cfg.MODEL.EFFICIENTNET.OUT_FEATURES = ["res5"]
    cfg.MODEL.EFFICIENTNET.NORM = "FrozenBN"
