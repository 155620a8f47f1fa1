"""SMCA's Gaussian-like spatial prior (paper Eq. 1-6): centres, head offsets, scales, log G.

Coordinates are in "prior units": feature cells of the model's unit stride (32 in the official
single-scale code). A level of stride s has its cell (x, y) at (x, y) * s / unit_stride; cells are
integer positions over the padded map with no half-cell offset (official).
"""
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

# Scale values predicted per head for each scale mode (official dynamic_scale type1/type2/type3).
SCALE_MODES = {"fixed": 0, "single": 1, "independent": 2}


def level_axes(height: int, width: int, stride: float, unit_stride: float, device, dtype=torch.float32):
    """Cell coordinates of one level in prior units: (xs [W], ys [H])."""
    factor = stride / unit_stride
    xs = torch.arange(width, device=device, dtype=dtype)
    ys = torch.arange(height, device=device, dtype=dtype)
    if factor != 1:
        xs, ys = xs * factor, ys * factor
    return xs, ys


def unnormalise_centers(center_logits, image_wh, unit_stride: float):
    """Sigmoid centres -> prior units of each image's *unpadded* size (official: size * sigmoid / 32).

    center_logits: [B, Q, 2] (x, y); image_wh: [B, 2] (width, height) -> [B, Q, 2].
    """
    return image_wh[:, None, :].to(center_logits.dtype) * center_logits.sigmoid() / unit_stride


def gaussian_log_weights(centers, scales: Optional[torch.Tensor], axes, smooth: float):
    """log G of every head at every cell of one level (paper Eq. 3/6, official parameterisation).

    log G = -(a_x^2 (x - c_x)^2 + a_y^2 (y - c_y)^2) / smooth, where a = the scale head's output
    (official: the output is squared and multiplies the squared distance, so a ~ 1/s of the paper).

    centers: [B, Q, G, 2] (x, y) in prior units; scales: None ("fixed"), [B, Q, G, 1] ("single") or
    [B, Q, G, 2] ("independent"), already squared; axes: (xs [W], ys [H]) -> [B, G, Q, H*W].
    Computed separably (x and y terms broadcast-added), which gives the same values as the
    official [.., HW, .., 2] distance tensor with far less memory.
    """
    xs, ys = axes
    dx2 = (centers[..., 0:1] - xs).pow(2)  # [B, Q, G, W]
    dy2 = (centers[..., 1:2] - ys).pow(2)  # [B, Q, G, H]
    if scales is not None and scales.shape[-1] == 2:
        dx2 = dx2 * scales[..., 0:1]
        dy2 = dy2 * scales[..., 1:2]
    distance = dx2[..., None, :] + dy2[..., :, None]  # [B, Q, G, H, W]
    if scales is not None and scales.shape[-1] == 1:
        distance = distance * scales[..., None]
    return (-distance / smooth).flatten(3).permute(0, 2, 1, 3)


class GaussianPrior(nn.Module):
    """The per-layer prior heads: ``norm`` (official norm4), head offsets (point2), scales (point3).

    The centre itself is predicted once by the decoder (official: layer 0's point1) and passed in;
    every layer predicts its own offsets and scales from ``norm(tgt + query_pos)``.
    """

    def __init__(self, d_model: int, nhead: int, scale_mode: str = "independent", head_shared: bool = False,
                 smooth: float = 8.0):
        super().__init__()
        if scale_mode not in SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {sorted(SCALE_MODES)}, got {scale_mode!r}")
        self.nhead = nhead
        self.groups = 1 if head_shared else nhead
        self.scale_mode = scale_mode
        self.smooth = smooth
        self.norm = nn.LayerNorm(d_model)
        self.offset_head = None if head_shared else nn.Linear(d_model, 2 * nhead)
        values = SCALE_MODES[scale_mode]
        self.scale_head = nn.Linear(d_model, values * self.groups) if values else None

    def reset_parameters(self):
        """Official init: weight 0, bias 1, so every scale factor starts at 1."""
        if self.scale_head is not None:
            nn.init.zeros_(self.scale_head.weight)
            nn.init.ones_(self.scale_head.bias)

    def features(self, tgt, query_pos):
        """The prior heads' input: LayerNorm(tgt + query_pos), [B, Q, C] (official norm4)."""
        return self.norm(tgt + query_pos)

    def forward(self, features, center, level_axes_list) -> Tuple[List[torch.Tensor], Dict[str, torch.Tensor]]:
        """features: [B, Q, C]; center: [B, Q, 2] prior units; level_axes_list: [(xs, ys)] per level.

        Returns log G per level [B, G, Q, S_l] (G = heads, or 1 when head-shared) and
        {"centers": [B, Q, G, 2], "scales": [B, Q, G, k] or None}.
        """
        batch, queries, _ = features.shape
        centers = center[:, :, None, :]
        if self.offset_head is not None:
            # official: entries 2h, 2h+1 are head h's (x, y) offsets, in prior units, unbounded
            centers = centers + self.offset_head(features).view(batch, queries, self.groups, 2)
        scales = None
        if self.scale_head is not None:
            scales = self.scale_head(features).pow(2).view(batch, queries, self.groups, -1)
        log_weights = [gaussian_log_weights(centers, scales, axes, self.smooth) for axes in level_axes_list]
        return log_weights, {"centers": centers, "scales": scales}
