"""Construction of the multi-scale deformable attention module every deformable method uses."""
from torch import nn

from ops import MSDeformAttn
from projects.layers.init import xavier_init_matrices

ATTENTION_IMPLS = ("auto", "reference")


def build_attention(d_model: int, n_levels: int, n_heads: int, n_points: int, impl: str = "auto",
                    config_key: str = "ATTENTION_IMPL") -> MSDeformAttn:
    """An ``MSDeformAttn``; ``impl`` "auto" runs the compiled kernel when ``ops._C`` has one for the
    tensors' device (else the reference, logged once), "reference" always runs the PyTorch reference.
    ``config_key``: the config key named in the error for another value."""
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"{config_key} must be one of {ATTENTION_IMPLS}, got {impl!r}")
    return MSDeformAttn(d_model, n_levels, n_heads, n_points, use_reference=impl == "reference")


def init_deformable_transformer_weights(module: nn.Module) -> None:
    """Official Deformable DETR / DAB-Deformable-DETR / DINO transformer init: xavier-uniform on every
    matrix of ``module``, then each ``MSDeformAttn`` inside it re-initialised its own way (offsets on
    rings, zero attention logits)."""
    xavier_init_matrices(module)
    for child in module.modules():
        if isinstance(child, MSDeformAttn):
            child.reset_parameters()
