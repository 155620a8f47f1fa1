"""The one entry point of multi-scale deformable attention: the registered operator
``torch.ops.detr_family.ms_deform_attn`` (compiled kernel with autograd) or the reference."""
import functools
import logging

import torch

from ops import _extension
from ops.reference import ms_deform_attn_reference

__all__ = ["ms_deform_attn"]

logger = logging.getLogger(__name__)

_REDUCED_FLOATS = (torch.float16, torch.bfloat16)


def ms_deform_attn(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
    *,
    use_reference: bool = False,
) -> torch.Tensor:
    """Multi-scale deformable attention (Deformable DETR, Zhu et al. 2021, Eq. 3).

    Runs the operator ``torch.ops.detr_family.ms_deform_attn`` (registered by ``ops._C``; one
    node for torch.compile and torch.export) when ``ops._C`` has a kernel for the tensors'
    device, otherwise the pure-PyTorch reference (logged once per device type). Both are
    differentiable with respect to ``value``, ``sampling_locations`` and ``attention_weights``.

    Args:
        value: [N, S, M, D] float, S = sum of H_l * W_l, tokens level-major then row-major.
        spatial_shapes: [L, 2] integer (H, W) per level.
        level_start_index: [L] integer, first token of each level.
        sampling_locations: [N, Lq, M, L, P, 2] normalised (x, y); 0 and 1 are the map's
            outer edges, and samples outside the map read zeros.
        attention_weights: [N, Lq, M, L, P].
        use_reference: force the PyTorch reference even when a kernel exists.

    Returns:
        [N, Lq, M * D], head-major channels. Its dtype is ``value``'s when the locations and
        weights share it, or are float32 with a float16/bfloat16 ``value`` (that mixed form keeps
        the locations in float32); otherwise all three are promoted to a common dtype first.
        float16/bfloat16 are computed in float32.

    The CPU kernel is deterministic for a given thread count; the CUDA backward adds the value
    gradient with atomics, so its summation order (last bits) can vary between runs.
    """
    _check_layouts(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    value, sampling_locations, attention_weights = _match_dtypes(value, sampling_locations, attention_weights)
    device_type = value.device.type
    if use_reference:
        return ms_deform_attn_reference(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    if not _extension.kernel_available(device_type):
        _log_fallback_once(device_type, _extension.unavailable_reason(device_type))
        return ms_deform_attn_reference(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    spatial_shapes = spatial_shapes.to(device=value.device, dtype=torch.long)
    level_start_index = level_start_index.to(device=value.device, dtype=torch.long)
    return torch.ops.detr_family.ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations,
                                                attention_weights)


@functools.lru_cache(maxsize=None)
def _log_fallback_once(device_type: str, reason: str) -> None:
    logger.warning("ms_deform_attn on %s uses the PyTorch reference: %s", device_type, reason)


def _match_dtypes(value, sampling_locations, attention_weights):
    """Casts to a dtype combination the kernels accept (see ``ms_deform_attn``)."""
    if not (value.is_floating_point() and sampling_locations.is_floating_point()
            and attention_weights.is_floating_point()):
        raise TypeError("ms_deform_attn needs floating-point value, sampling_locations and attention_weights")
    coord_dtype = torch.promote_types(sampling_locations.dtype, attention_weights.dtype)
    mixed = value.dtype in _REDUCED_FLOATS and coord_dtype == torch.float32
    if coord_dtype != value.dtype and not mixed:
        common = torch.promote_types(value.dtype, coord_dtype)
        return value.to(common), sampling_locations.to(common), attention_weights.to(common)
    return value, sampling_locations.to(coord_dtype), attention_weights.to(coord_dtype)


def _check_layouts(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Raises ValueError on inconsistent shapes. Token ranges are checked only in eager mode and when
    ``spatial_shapes`` and ``level_start_index`` are on the CPU (reading a GPU tensor would synchronise;
    a traced graph has no values to read)."""
    if value.dim() != 4 or sampling_locations.dim() != 6 or sampling_locations.shape[-1] != 2:
        raise ValueError(f"expected value [N, S, M, D] and sampling_locations [N, Lq, M, L, P, 2], "
                         f"got {tuple(value.shape)} and {tuple(sampling_locations.shape)}")
    batch, num_queries, num_heads, num_levels, num_points, _ = sampling_locations.shape
    if (value.shape[0], value.shape[2]) != (batch, num_heads):
        raise ValueError(f"value {tuple(value.shape)} and sampling_locations "
                         f"{tuple(sampling_locations.shape)} disagree on N or M")
    if attention_weights.shape != (batch, num_queries, num_heads, num_levels, num_points):
        raise ValueError(f"attention_weights must be {(batch, num_queries, num_heads, num_levels, num_points)}, "
                         f"got {tuple(attention_weights.shape)}")
    if spatial_shapes.shape != (num_levels, 2) or level_start_index.shape != (num_levels,):
        raise ValueError(f"spatial_shapes must be [{num_levels}, 2] and level_start_index [{num_levels}], got "
                         f"{tuple(spatial_shapes.shape)} and {tuple(level_start_index.shape)}")
    on_cpu = spatial_shapes.device.type == "cpu" and level_start_index.device.type == "cpu"
    if on_cpu and not torch.compiler.is_compiling():
        _check_token_ranges(value.shape[1], spatial_shapes, level_start_index)


def _check_token_ranges(num_tokens, spatial_shapes, level_start_index):
    """Every level's tokens must lie inside ``value`` (the kernels index it without bounds checks)."""
    areas = spatial_shapes.long().prod(1)
    starts = level_start_index.long()
    if int(areas.sum()) != num_tokens or bool((starts < 0).any()) or bool((starts + areas > num_tokens).any()):
        raise ValueError(f"value has {num_tokens} tokens, which does not fit spatial_shapes "
                         f"{spatial_shapes.tolist()} with level_start_index {level_start_index.tolist()}")
