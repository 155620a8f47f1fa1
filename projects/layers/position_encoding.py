"""Position encodings for 2-d feature maps (DETR family).

Both encodings take the padding mask of a feature level ([B, H, W], True = padding) and return a
positional tensor [B, 2F, H, W] whose first F channels encode y and last F channels encode x.
"""
import math

import torch
from torch import nn

from projects.layers.sine_embedding import sine_embed


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine encoding of the (normalised) pixel position, computed from the padding mask.

    Official DETR: position = cumsum of valid pixels along each axis (first valid pixel = 1), then
    optionally normalised per image by the number of valid rows/cols: ``(p + offset) / (p_last + eps)``
    times ``scale``. Deformable DETR uses ``offset=-0.5``; DETR uses 0. Each axis is then embedded
    by ``layers.sine_embedding.sine_embed`` (interleaved sin/cos, F channels).
    """

    def __init__(self, num_pos_feats=128, temperature=10000.0, normalize=True, scale=2 * math.pi,
                 offset=0.0, eps=1e-6):
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale
        self.offset = offset
        self.eps = eps

    def forward(self, mask, dtype=torch.float32):
        """mask: [B, H, W] bool (True = padding) -> [B, 2F, H, W] in ``dtype``."""
        valid = (~mask).to(torch.float32)
        y_embed = valid.cumsum(1)
        x_embed = valid.cumsum(2)
        if self.normalize:
            y_embed = (y_embed + self.offset) / (y_embed[:, -1:, :] + self.eps) * self.scale
            x_embed = (x_embed + self.offset) / (x_embed[:, :, -1:] + self.eps) * self.scale
        # the normalisation above already applied ``scale``: embed the positions as they are
        pos_y = sine_embed(y_embed, self.num_pos_feats, self.temperature, scale=1.0)
        pos_x = sine_embed(x_embed, self.num_pos_feats, self.temperature, scale=1.0)
        return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2).to(dtype)


class PositionEmbeddingLearned(nn.Module):
    """Learned absolute encoding: a row and a column embedding table (up to ``max_size`` cells).

    Official DETR's ``--position_embedding learned``: unlike the sine encoding, the column (x) half
    comes first, then the row (y) half. Padding is ignored.
    """

    def __init__(self, num_pos_feats=128, max_size=50):
        super().__init__()
        self.max_size = max_size
        self.row_embed = nn.Embedding(max_size, num_pos_feats)
        self.col_embed = nn.Embedding(max_size, num_pos_feats)
        nn.init.uniform_(self.row_embed.weight)
        nn.init.uniform_(self.col_embed.weight)

    def forward(self, mask, dtype=torch.float32):
        """mask: [B, H, W] bool -> [B, 2F, H, W]."""
        batch, height, width = mask.shape
        if height > self.max_size or width > self.max_size:
            raise ValueError(
                f"Learned position embedding supports feature maps up to {self.max_size}x{self.max_size}, "
                f"got {height}x{width}; use the sine embedding or a larger max_size."
            )
        rows = self.row_embed(torch.arange(height, device=mask.device))  # [H, F]
        cols = self.col_embed(torch.arange(width, device=mask.device))  # [W, F]
        grid = torch.cat(
            (cols[None, :, :].expand(height, width, -1), rows[:, None, :].expand(height, width, -1)), dim=-1
        )
        return grid.permute(2, 0, 1)[None].expand(batch, -1, -1, -1).to(dtype)


def build_position_encoding(kind, hidden_dim, offset=0.0, temperature=10000.0):
    """Return the encoding named ``kind`` ("sine" or "learned") producing ``hidden_dim`` channels.
    ``offset`` and ``temperature`` apply to the sine encoding (DAB-DETR and DINO: temperature 20)."""
    if hidden_dim % 2:
        raise ValueError(f"hidden_dim must be even for a 2-d position encoding, got {hidden_dim}")
    if kind == "sine":
        return PositionEmbeddingSine(hidden_dim // 2, temperature=temperature, normalize=True, offset=offset)
    if kind == "learned":
        return PositionEmbeddingLearned(hidden_dim // 2)
    raise ValueError(f"Unknown position embedding {kind!r}; expected 'sine' or 'learned'")
