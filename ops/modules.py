"""``MSDeformAttn``: the multi-scale deformable attention module of Deformable DETR."""
import math
from typing import Optional, Tuple

import torch
from torch import nn

from ops.function import ms_deform_attn

__all__ = ["MSDeformAttn", "set_reference_mode"]


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention (Deformable DETR, Zhu et al. 2021, Eq. 3).

    Each of ``n_heads`` heads samples ``n_points`` points on each of ``n_levels`` feature levels
    around a query's reference point. The sampling offsets and the attention weights (a softmax
    over the ``n_levels * n_points`` samples of a head) are linear functions of the query.

    Submodules, in state-dict order, are those of the official module, so official weights load
    1:1: ``sampling_offsets`` (out M*L*P*2, index ((m*L + l)*P + p)*2 + xy), ``attention_weights``
    (out M*L*P), ``value_proj`` and ``output_proj``.

    Attributes:
        use_reference: when True, ``forward`` runs the pure-PyTorch reference instead of the
            compiled kernel, e.g. to compare a model "forced onto the reference" with the kernel.
            ``set_reference_mode(model, True)`` sets it on every instance inside a model.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4,
                 *, use_reference: bool = False):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.use_reference = use_reference
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official initialisation: offsets start on a fixed pattern, weights uniform."""
        nn.init.zeros_(self.sampling_offsets.weight)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(self._initial_offsets().flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for projection in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(projection.weight)
            nn.init.zeros_(projection.bias)

    def _initial_offsets(self) -> torch.Tensor:
        """[M, L, P, 2]: head m points along angle 2*pi*m/M, the direction scaled so that its
        larger |component| is 1, and point p sits p + 1 pixels out (official init)."""
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        directions = torch.stack([angles.cos(), angles.sin()], -1)
        directions = directions / directions.abs().max(-1, keepdim=True).values
        distances = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        return (directions.view(self.n_heads, 1, 1, 2) * distances).expand(-1, self.n_levels, -1, -1)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        input_spatial_shapes: torch.Tensor,
        input_level_start_index: torch.Tensor,
        input_padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        Args:
            query: [N, Lq, C].
            reference_points: [N, Lq, L, 2] normalised (x, y), or [N, Lq, L, 4] boxes (cx, cy, w, h).
            input_flatten: [N, S, C], tokens level-major then row-major.
            input_spatial_shapes: [L, 2] (H, W). input_level_start_index: [L].
            input_padding_mask: [N, S] bool, True on padding, or None.

        Returns:
            [N, Lq, C].
        """
        locations, weights = self.sampling_locations_and_weights(query, reference_points, input_spatial_shapes)
        value = self.project_value(input_flatten, input_padding_mask)
        output = ms_deform_attn(value, input_spatial_shapes, input_level_start_index, locations, weights,
                                use_reference=self.use_reference)
        return self.output_proj(output)

    def project_value(self, input_flatten: torch.Tensor, input_padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """[N, S, C] -> value [N, S, M, D]; padded tokens are exactly zero (official: masked_fill
        after the projection bias). Channel m*D + d is head m's channel d."""
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            # in place: the projection's fresh output is not saved by its backward (saves a copy)
            value = value.masked_fill_(input_padding_mask[..., None], 0.0)
        batch, num_tokens, _ = input_flatten.shape
        return value.view(batch, num_tokens, self.n_heads, self.d_model // self.n_heads)

    def sampling_locations_and_weights(
        self, query: torch.Tensor, reference_points: torch.Tensor, spatial_shapes: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sampling locations [N, Lq, M, L, P, 2] (x, y) and softmax weights [N, Lq, M, L, P]."""
        batch, num_queries, _ = query.shape
        heads, levels, points = self.n_heads, self.n_levels, self.n_points
        if spatial_shapes.shape[0] != levels or reference_points.shape[:3] != (batch, num_queries, levels):
            raise ValueError(f"expected {levels} levels and reference_points [{batch}, {num_queries}, {levels}, 2|4], "
                             f"got spatial_shapes {tuple(spatial_shapes.shape)}, "
                             f"reference_points {tuple(reference_points.shape)}")
        offsets = self.sampling_offsets(query).view(batch, num_queries, heads, levels, points, 2)
        weights = self.attention_weights(query).view(batch, num_queries, heads, levels * points)
        weights = weights.softmax(-1).view(batch, num_queries, heads, levels, points)
        if reference_points.shape[-1] == 2:
            locations = _pixel_offsets_to_locations(reference_points, offsets, spatial_shapes)
        elif reference_points.shape[-1] == 4:
            # Box references: offsets scale with half the box size, over P (official, not in the paper).
            reference = reference_points[:, :, None, :, None, :]  # [N, Lq, 1, L, 1, 4]
            locations = reference[..., :2] + offsets / points * reference[..., 2:] * 0.5
        else:
            raise ValueError(f"reference_points must end in 2 or 4 coordinates, got {tuple(reference_points.shape)}")
        return locations, weights


def _pixel_offsets_to_locations(reference_points: torch.Tensor, offsets: torch.Tensor,
                                spatial_shapes: torch.Tensor) -> torch.Tensor:
    """reference_points [N, Lq, L, 2] + offsets [N, Lq, M, L, P, 2] in pixels of each level -> locations
    [N, Lq, M, L, P, 2]: x over the level width, y over its height (official after commit 05a2feb,
    which fixed an (H, W) order).

    Computes ``reference[:, :, None, :, None] + offsets / (W_l, H_l)`` with the same roundings, but
    with the (L, P, 2) dimensions merged into one contiguous innermost dimension on every operand:
    broadcasting over a size-2 innermost dimension takes PyTorch's scalar (unvectorised) CPU loop,
    over ten times slower on the encoder's tokens.
    """
    batch, num_queries, heads, levels, points, _ = offsets.shape
    size_wh = spatial_shapes.flip(-1).to(offsets.dtype)  # [L, 2] (W, H)
    divisor = size_wh[:, None, :].expand(levels, points, 2).reshape(levels * points * 2)
    reference = reference_points[:, :, None, :, None, :].expand(batch, num_queries, 1, levels, points, 2)
    reference = reference.reshape(batch, num_queries, 1, levels * points * 2)
    scaled = offsets.reshape(batch, num_queries, heads, levels * points * 2) / divisor
    return (reference + scaled).view(batch, num_queries, heads, levels, points, 2)


def set_reference_mode(model: nn.Module, enabled: bool = True) -> int:
    """Sets ``use_reference`` on every ``MSDeformAttn`` inside ``model``; returns how many."""
    attentions = [module for module in model.modules() if isinstance(module, MSDeformAttn)]
    for attention in attentions:
        attention.use_reference = enabled
    return len(attentions)
