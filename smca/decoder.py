"""The SMCA decoder: DETR's decoder with spatially modulated co-attention (single- or multi-scale).

Tensors are batch-first: queries [B, Q, C], memory of level l [B, S_l, C], padding masks [B, S_l].
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import nn

from projects.layers import MLP, clone_modules
from projects.layers.transformer import DecoderLayerBase, with_pos

from .co_attention import padded_log_weights
from .spatial_prior import GaussianPrior, unnormalise_centers


class DecoderMemory(NamedTuple):
    """The encoder output as the decoder reads it, one entry per level."""

    values: List[torch.Tensor]  # [B, S_l, C]
    keys: List[torch.Tensor]  # values + positional (+ level) encoding, [B, S_l, C]
    masks: List[torch.Tensor]  # [B, S_l] bool, True = padding
    axes: List[Tuple[torch.Tensor, torch.Tensor]]  # (xs [W_l], ys [H_l]) in prior units


class SMCADecoderLayer(DecoderLayerBase):
    """Self-attention, spatially modulated co-attention, FFN; post-norm (the official SMCA layer).

    ``prior`` predicts this layer's head offsets and scales; ``cross_attn`` is a
    GaussianCoAttention (single level) or ScaleSelectionAttention (multi-scale);
    ``scale_selection`` (multi-scale only) maps the prior features to one logit per level.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, activation: str,
                 prior: GaussianPrior, cross_attn: nn.Module, scale_selection: Optional[nn.Module] = None):
        super().__init__(d_model, dim_feedforward, dropout, activation)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.multihead_attn = cross_attn
        self.prior = prior
        self.scale_selection = scale_selection

    def scale_weights(self, features):
        """alpha = softmax over levels of FC(features) (paper Eq. 7): [B, Q, L], or None."""
        return None if self.scale_selection is None else self.scale_selection(features).softmax(-1)

    def forward(self, tgt, query_pos, features, center, memory: DecoderMemory):
        """tgt, query_pos, features (prior input): [B, Q, C]; center: [B, Q, 2] prior units.

        Returns the layer output [B, Q, C] and the prior {"centers", "scales", "log_weights",
        "scale_weights"} it used.
        """
        log_weights, prior = self.prior(features, center, memory.axes)
        biases = [padded_log_weights(lw, mask) for lw, mask in zip(log_weights, memory.masks)]
        alpha = self.scale_weights(features)
        q = k = with_pos(tgt, query_pos)
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(q, k, tgt, need_weights=False)[0]))
        attended = self.multihead_attn(with_pos(tgt, query_pos), memory.keys, memory.values, biases, alpha)
        tgt = self.norm2(tgt + self.dropout2(attended))
        tgt = self.norm3(tgt + self.dropout3(self.ffn(tgt)))
        return tgt, {**prior, "log_weights": log_weights, "scale_weights": alpha}


class SMCADecoder(nn.Module):
    """Decoder stack with one query-centre head; ``norm`` is applied to every layer's output.

    Official: the centre is predicted once, by a 3-layer MLP on layer 0's prior features
    (``point1``), unnormalised with each image's unpadded size and reused by every layer.
    """

    def __init__(self, layer: SMCADecoderLayer, num_layers: int, d_model: int, unit_stride: float):
        super().__init__()
        self.layers = clone_modules(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)
        self.center_head = MLP(d_model, d_model, 2, 3)
        self.unit_stride = unit_stride

    def forward(self, tgt, query_pos, memory: DecoderMemory, image_wh):
        """tgt, query_pos: [B, Q, C]; image_wh: [B, 2] unpadded (width, height).

        Returns hs [L, B, Q, C] (after ``norm``), center_logits [B, Q, 2] (x, y) and the per-layer priors.
        """
        states, priors = [], []
        center_logits = center = None
        for layer in self.layers:
            features = layer.prior.features(tgt, query_pos)
            if center is None:
                center_logits = self.center_head(features)
                center = unnormalise_centers(center_logits, image_wh, self.unit_stride)
            tgt, prior = layer(tgt, query_pos, features, center, memory)
            states.append(self.norm(tgt))
            priors.append({**prior, "center": center})
        return torch.stack(states), center_logits, priors
