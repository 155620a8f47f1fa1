"""Pure-PyTorch multi-scale deformable attention: the test oracle and the fallback path."""
import torch
import torch.nn.functional as F

__all__ = ["ms_deform_attn_reference"]

_REDUCED_FLOATS = (torch.float16, torch.bfloat16)


def ms_deform_attn_reference(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Multi-scale deformable attention by ``F.grid_sample`` (official semantics).

    Each head samples every level bilinearly at its points, with zeros outside the map
    (``align_corners=False``: pixel centre ``i`` sits at ``(i + 0.5) / size``), and sums the
    samples weighted by the attention weights.

    Args:
        value: [N, S, M, D], S = sum of H_l * W_l, tokens level-major then row-major.
        spatial_shapes: [L, 2] (H, W) per level.
        level_start_index: [L], first token of each level in ``value``.
        sampling_locations: [N, Lq, M, L, P, 2] normalised (x, y).
        attention_weights: [N, Lq, M, L, P].

    Returns:
        [N, Lq, M * D] in ``value``'s dtype, head-major channels. float16/bfloat16 inputs are
        computed in float32 and the result rounded once.
    """
    num_batch, _, num_heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    compute_dtype = torch.promote_types(value.dtype, sampling_locations.dtype)
    compute_dtype = torch.promote_types(compute_dtype, attention_weights.dtype)
    if compute_dtype in _REDUCED_FLOATS:
        compute_dtype = torch.float32
    # grid_sample's grid lives in [-1, 1]; it is laid out [N*M, Lq, P, 2] per level.
    grids = (2 * sampling_locations.to(compute_dtype) - 1).transpose(1, 2)
    grids = grids.reshape(num_batch * num_heads, num_queries, num_levels, num_points, 2)
    samples = []
    starts = level_start_index.tolist()
    for level, (height, width) in enumerate(spatial_shapes.tolist()):
        level_value = value[:, starts[level]:starts[level] + height * width].to(compute_dtype)
        level_value = level_value.permute(0, 2, 3, 1).reshape(num_batch * num_heads, head_dim, height, width)
        samples.append(F.grid_sample(level_value, grids[:, :, level], mode="bilinear",
                                     padding_mode="zeros", align_corners=False))  # [N*M, D, Lq, P]
    samples = torch.stack(samples, dim=-2).flatten(-2)  # [N*M, D, Lq, L*P]
    weights = attention_weights.to(compute_dtype).transpose(1, 2)
    weights = weights.reshape(num_batch * num_heads, 1, num_queries, num_levels * num_points)
    output = (samples * weights).sum(-1)  # [N*M, D, Lq]
    output = output.view(num_batch, num_heads * head_dim, num_queries).transpose(1, 2)
    return output.contiguous().to(value.dtype)
