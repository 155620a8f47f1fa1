"""Random inputs for multi-scale deformable attention tests."""
from pathlib import Path
from typing import Dict, Sequence, Tuple

import torch

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "deformable_detr"
OP_FIXTURE = FIXTURE_DIR / "ms_deform_attn_op.pt"
INPUT_NAMES = ("value", "spatial_shapes", "level_start_index", "sampling_locations", "attention_weights")
ENCODER_LEVELS = ((64, 64), (32, 32), (16, 16), (8, 8))  # one 512x512 image, strides 8..64


def level_layout(levels: Sequence[Tuple[int, int]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """spatial_shapes [L, 2] (H, W) and level_start_index [L] for the given level sizes."""
    spatial_shapes = torch.tensor(levels, dtype=torch.long)
    areas = spatial_shapes.prod(1)
    return spatial_shapes, torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])


def random_inputs(levels, batch=2, heads=2, channels=4, queries=5, points=2, dtype=torch.float64,
                  seed=0, edge_cases=True) -> Dict[str, torch.Tensor]:
    """Inputs of ``ms_deform_attn`` keyed by argument name.

    Locations are uniform in [-0.1, 1.1]. With ``edge_cases``, some coordinates are set exactly on
    the map borders (0 and 1) and some far outside (whole bilinear footprint off the map).
    """
    generator = torch.Generator().manual_seed(seed)
    spatial_shapes, level_start_index = level_layout(levels)
    num_levels, num_tokens = len(levels), int(spatial_shapes.prod(1).sum())
    value = torch.randn(batch, num_tokens, heads, channels, generator=generator, dtype=torch.float64)
    locations = torch.rand(batch, queries, heads, num_levels, points, 2, generator=generator, dtype=torch.float64)
    locations = locations * 1.2 - 0.1
    if edge_cases:
        flat = locations.view(-1)
        picks = torch.randperm(flat.numel(), generator=generator)[: max(4, flat.numel() // 5)]
        special = torch.tensor([0.0, 1.0, -0.75, 1.8], dtype=torch.float64)
        flat[picks] = special[torch.arange(picks.numel()) % special.numel()]
    logits = torch.randn(batch, queries, heads, num_levels * points, generator=generator, dtype=torch.float64)
    weights = logits.softmax(-1).view(batch, queries, heads, num_levels, points)
    return {"value": value.to(dtype), "spatial_shapes": spatial_shapes, "level_start_index": level_start_index,
            "sampling_locations": locations.to(dtype), "attention_weights": weights.to(dtype)}


def differentiable_copy(inputs: Dict[str, torch.Tensor], device=None, dtype=None) -> Dict[str, torch.Tensor]:
    """Leaf copies of the floating inputs (requires_grad), optionally moved and cast."""
    copies = {}
    for name, tensor in inputs.items():
        tensor = tensor.to(device) if device is not None else tensor
        if tensor.is_floating_point():
            tensor = tensor.to(dtype) if dtype is not None else tensor
            tensor = tensor.detach().clone().requires_grad_(True)
        copies[name] = tensor
    return copies


def output_and_grads(function, inputs: Dict[str, torch.Tensor], grad_output: torch.Tensor):
    """Runs ``function(**inputs)`` and backpropagates ``grad_output``.

    Returns (output, grad_value, grad_sampling_locations, grad_attention_weights), detached.
    """
    output = function(*[inputs[name] for name in INPUT_NAMES])
    output.backward(grad_output.to(output))
    grads = [inputs[name].grad for name in ("value", "sampling_locations", "attention_weights")]
    return (output.detach(), *grads)


def max_error_ratio(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| relative to max |expected| (scale-free error of a whole tensor)."""
    actual, expected = actual.detach().double(), expected.detach().double()
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-30))


def kernel(*inputs: torch.Tensor) -> torch.Tensor:
    """The registered operator ``torch.ops.detr_family.ms_deform_attn`` (loaded by ``import ops``
    from ops._C) with its library-registered autograd; inputs in ``INPUT_NAMES`` order."""
    return torch.ops.detr_family.ms_deform_attn(*inputs)
