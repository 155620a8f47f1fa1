"""The one sine/cosine embedding of the DETR family (image positions, reference points, proposal boxes).

Channel k of a value v is ``v * scale / temperature ** (2 * floor(k / 2) / F)``, through sin for
even k and cos for odd k (interleaved pairs, official DETR). Callers differ only in what they
embed and in the order they concatenate coordinates; each caller states its order.
"""
import math

import torch
from torch import Tensor


def sine_frequencies(num_pos_feats: int, temperature: float, device=None) -> Tensor:
    """The divisors ``temperature ** (2 * floor(k / 2) / num_pos_feats)`` for k < num_pos_feats: [F].

    Channels 2i and 2i+1 share one frequency (one sin/cos pair).
    """
    k = torch.arange(num_pos_feats, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / num_pos_feats)


def sine_embed(values: Tensor, num_pos_feats: int = 128, temperature: float = 10000.0,
               scale: float = 2 * math.pi) -> Tensor:
    """values: [...] -> [..., F]: interleaved sin (even channels) / cos (odd channels) of
    ``values * scale / frequency``."""
    angles = (values * scale)[..., None] / sine_frequencies(num_pos_feats, temperature, values.device)
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


def sine_embed_coordinates(coords: Tensor, num_pos_feats: int = 128, temperature: float = 10000.0,
                           scale: float = 2 * math.pi, y_first: bool = True) -> Tensor:
    """Embed normalised (x, y[, w, h, ...]) coordinates, F features per coordinate.

    coords: [..., D] with D >= 2, ordered x, y, then any extra coordinates -> [..., D * F].
    ``y_first`` (official Conditional DETR, matching the image encoding whose first half encodes
    rows): output blocks in order y, x, extras. ``y_first=False`` (official two-stage Deformable
    DETR proposals): the input order x, y, w, h.
    """
    if coords.shape[-1] < 2:
        raise ValueError(f"Expected at least (x, y) in the last dimension, got shape {tuple(coords.shape)}")
    if y_first:
        coords = coords[..., [1, 0] + list(range(2, coords.shape[-1]))]
    return sine_embed(coords, num_pos_feats, temperature, scale).flatten(-2)
