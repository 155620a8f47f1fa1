"""DINO's transformer: deformable encoder, mixed query selection (DINO paper Sec. 3.4) and the anchor decoder."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.layers.deformable.attention import init_deformable_transformer_weights
from projects.layers.deformable.encoder import DeformableEncoder
from projects.layers.deformable.levels import FlatLevels, flatten_levels
from projects.layers.deformable.proposals import encoder_proposals
from projects.layers.heads import class_and_box_heads
from projects.layers.transformer_output import TransformerOutput

from .decoder import DINODecoder

FOCAL_PRIOR = 0.01


class DINOTransformer(nn.Module):
    """Encoder over all level tokens, top-``num_queries`` encoder proposals as anchors, decoder.

    Mixed query selection (official two_stage_type "standard" with embed_init_tgt): the proposals
    are scored by the max over the class logits of the transformer's own proposal heads
    (``enc_out_class_embed`` / ``enc_out_bbox_embed``, separate from the decoder heads); the
    selected boxes, *detached*, are the decoder's initial anchors, while the content queries are the
    learned ``tgt_embed`` (the same for every image). Denoising queries, when given, are prepended.
    """

    def __init__(self, encoder: DeformableEncoder, decoder: DINODecoder, d_model: int, num_levels: int,
                 num_queries: int, num_classes: int):
        super().__init__()
        self.d_model = d_model
        self.num_levels = num_levels
        self.num_queries = num_queries
        self.level_embed = nn.Parameter(torch.empty(num_levels, d_model))
        self.encoder = encoder
        self.decoder = decoder
        self.tgt_embed = nn.Embedding(num_queries, d_model)
        self.enc_output = nn.Linear(d_model, d_model)
        self.enc_output_norm = nn.LayerNorm(d_model)
        self.reset_parameters()
        # official: copies of the detector's heads (class prior 0.01, zero last box layer), made after
        # the transformer's own init
        self.enc_out_class_embed, self.enc_out_bbox_embed = class_and_box_heads(
            d_model, num_classes, focal_prior=FOCAL_PRIOR, zero_box_offsets=True)

    def reset_parameters(self):
        # official: xavier-uniform on every matrix, each attention's own init, normal level and target embeddings
        init_deformable_transformer_weights(self)
        nn.init.normal_(self.level_embed)
        nn.init.normal_(self.tgt_embed.weight)

    def forward(self, srcs: Sequence[Tensor], masks: Sequence[Tensor], pos_embeds: Sequence[Tensor],
                box_heads: Sequence[nn.Module], dn_content: Optional[Tensor] = None,
                dn_anchors: Optional[Tensor] = None, self_attn_mask: Optional[Tensor] = None) -> TransformerOutput:
        """
        Args:
            srcs, pos_embeds: per level [B, C, H_l, W_l]; masks: per level [B, H_l, W_l] (True = padding).
            box_heads: the decoder's box MLP per layer.
            dn_content: [B, P, C] denoising content queries; dn_anchors: [B, P, 4] their anchors as
                logits (inverse sigmoid); self_attn_mask: [P + Q, P + Q] bool (True = blocked).

        Returns TransformerOutput with hs [L, B, P + Q, C] (normed), memory [B, S, C], references
        (L + 1 tensors [B, P + Q, 4], see ``DINODecoder``), levels, enc_outputs (the selected
        proposals: {"pred_logits": [B, Q, K], "pred_boxes": [B, Q, 4]}, not detached) and
        proposal_index [B, Q] (torch.topk order).
        """
        if len(srcs) != self.num_levels:
            raise ValueError(f"The transformer was built for {self.num_levels} levels, got {len(srcs)}")
        levels = flatten_levels(list(srcs), list(masks), list(pos_embeds), self.level_embed)
        memory = self.encoder(levels)
        index, anchors, enc_outputs = self.select_queries(memory, levels)
        tgt = self.tgt_embed.weight[None].expand(memory.shape[0], -1, -1)
        if dn_content is not None:
            tgt = torch.cat((dn_content, tgt), 1)
            anchors = torch.cat((dn_anchors, anchors), 1)
        hs, references = self.decoder(tgt, anchors.sigmoid(), memory, levels, box_heads, self_attn_mask)
        return TransformerOutput(hs=hs, memory=memory, references=references, levels=levels,
                                 enc_outputs=enc_outputs, proposal_index=index)

    def select_queries(self, memory: Tensor, levels: FlatLevels) -> Tuple[Tensor, Tensor, dict]:
        """Mixed query selection -> (index [B, Q], anchors [B, Q, 4] logits detached, enc_outputs).

        Official: scores are the max over all class logits (Deformable DETR: logit 0), taken with
        ``torch.topk`` over every token; padded/invalid tokens are not excluded (their memory is zero).
        """
        output_memory, proposals = encoder_proposals(memory, levels.mask, levels.level_shapes)
        output_memory = self.enc_output_norm(self.enc_output(output_memory))
        class_logits = self.enc_out_class_embed(output_memory)
        coords = self.enc_out_bbox_embed(output_memory) + proposals
        index = torch.topk(class_logits.max(-1)[0], self.num_queries, dim=1)[1]
        selected = torch.gather(coords, 1, index[..., None].expand(-1, -1, 4))
        selected_memory = torch.gather(output_memory, 1, index[..., None].expand(-1, -1, self.d_model))
        enc_outputs = {"pred_logits": self.enc_out_class_embed(selected_memory), "pred_boxes": selected.sigmoid()}
        return index, selected.detach(), enc_outputs
