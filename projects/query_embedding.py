"""Sine embeddings of normalised query coordinates (reference points, anchor boxes).

The image-side sine encoding (``position_encoding.PositionEmbeddingSine``) embeds pixel positions
computed from a padding mask; this module embeds the *queries'* own coordinates in [0, 1] with the
same recipe, so that a query's spatial embedding lives in the same space as the keys' positional
embedding. Conditional DETR uses it for its reference points (official ``gen_sineembed_for_position``);
anchor-box variants (x, y, w, h) use the 4-d form.
"""
import math

import torch


def sine_frequencies(num_pos_feats, temperature, device=None):
    """The divisors ``temperature ** (2 * floor(k / 2) / num_pos_feats)`` for k < num_pos_feats: [F].

    Channels 2i and 2i+1 share one frequency (one sin/cos pair), as in DETR's image encoding.
    """
    k = torch.arange(num_pos_feats, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(k, 2, rounding_mode="floor") / num_pos_feats)


def sine_embed_scalar(values, num_pos_feats=128, temperature=10000.0, scale=2 * math.pi):
    """values: [...] in [0, 1] -> [..., F]: interleaved sin (even channels) / cos (odd channels) of
    ``values * scale / frequency``."""
    angles = (values * scale)[..., None] / sine_frequencies(num_pos_feats, temperature, values.device)
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


def sine_embed_coordinates(coords, num_pos_feats=128, temperature=10000.0, scale=2 * math.pi):
    """Embed normalised (x, y[, w, h, ...]) coordinates, F features per coordinate.

    coords: [..., D] with D >= 2, ordered x, y, then any extra coordinates -> [..., D * F].
    Output order is y first, then x, then the extra coordinates in their order (official Conditional
    DETR puts y before x, matching the image encoding, whose first half encodes rows).
    """
    if coords.shape[-1] < 2:
        raise ValueError(f"Expected at least (x, y) in the last dimension, got shape {tuple(coords.shape)}")
    order = [1, 0] + list(range(2, coords.shape[-1]))
    return torch.cat([sine_embed_scalar(coords[..., i], num_pos_feats, temperature, scale) for i in order], dim=-1)
