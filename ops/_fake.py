"""Fake (shape-only) kernels of the registered operators, used by torch.compile, torch.export
and FakeTensor tracing. The C++ schema names this module, so torch imports it when it needs them;
``ops._extension`` imports it right after loading ``ops._C``."""
import torch

__all__ = []


def _check_layouts(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """The shape part of the kernels' input checks (token ranges need data: kernels check them)."""
    torch._check(value.dim() == 4, lambda: f"value must be [N, S, M, D], got {tuple(value.shape)}")
    torch._check(sampling_locations.dim() == 6 and sampling_locations.shape[-1] == 2,
                 lambda: f"sampling_locations must be [N, Lq, M, L, P, 2], got {tuple(sampling_locations.shape)}")
    torch._check(attention_weights.shape == sampling_locations.shape[:-1],
                 lambda: f"attention_weights must be [N, Lq, M, L, P], got {tuple(attention_weights.shape)}")
    torch._check(spatial_shapes.dim() == 2 and level_start_index.dim() == 1,
                 lambda: "spatial_shapes must be [L, 2] and level_start_index [L]")
    torch._check(attention_weights.dtype == sampling_locations.dtype,
                 lambda: "sampling_locations and attention_weights must share a dtype")


@torch.library.register_fake("detr_family::ms_deform_attn")
def _ms_deform_attn_fake(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """-> [N, Lq, M * D] in value's dtype."""
    _check_layouts(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    batch, _, heads, channels = value.shape
    return value.new_empty((batch, sampling_locations.shape[1], heads * channels))


@torch.library.register_fake("detr_family::ms_deform_attn_backward")
def _ms_deform_attn_backward_fake(grad_output, value, spatial_shapes, level_start_index, sampling_locations,
                                  attention_weights):
    """-> (grad_value, grad_sampling_locations, grad_attention_weights), each like its input."""
    _check_layouts(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    return (torch.empty_like(value, memory_format=torch.contiguous_format),
            torch.empty_like(sampling_locations, memory_format=torch.contiguous_format),
            torch.empty_like(attention_weights, memory_format=torch.contiguous_format))
