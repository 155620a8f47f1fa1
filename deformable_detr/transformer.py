"""The deformable transformer: level embedding, encoder, query/reference setup (one- or two-stage), decoder."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from projects.layers.deformable.attention import init_deformable_transformer_weights
from projects.layers.deformable.encoder import DeformableEncoder
from projects.layers.deformable.levels import FlatLevels, flatten_levels
from projects.layers.transformer_output import TransformerOutput

from .decoder import DeformableDecoder
from .two_stage import encoder_proposals, proposal_pos_embed, select_proposals


class DeformableTransformer(nn.Module):
    """Encoder over all level tokens + decoder over ``num_queries`` object queries.

    One-stage: queries come from a learned embedding [Q, 2C] (first C = position, last C = content)
    and the initial reference is sigmoid(``reference_points``(position)), 2-d.
    Two-stage: the encoder proposals scored by the proposal head give the top-Q boxes; their sine
    embedding through ``pos_trans`` + ``pos_trans_norm`` gives both position and content queries,
    and the boxes (4-d) are the initial references.
    """

    def __init__(self, encoder: DeformableEncoder, decoder: DeformableDecoder, d_model: int, num_levels: int,
                 two_stage: bool = False, num_proposals: int = 300):
        super().__init__()
        self.d_model = d_model
        self.num_levels = num_levels
        self.two_stage = two_stage
        self.num_proposals = num_proposals
        self.level_embed = nn.Parameter(torch.empty(num_levels, d_model))
        self.encoder = encoder
        self.decoder = decoder
        if two_stage:
            self.enc_output = nn.Linear(d_model, d_model)
            self.enc_output_norm = nn.LayerNorm(d_model)
            self.pos_trans = nn.Linear(2 * d_model, 2 * d_model)
            self.pos_trans_norm = nn.LayerNorm(2 * d_model)
        else:
            self.reference_points = nn.Linear(d_model, 2)
        self.reset_parameters()

    def reset_parameters(self):
        # official: xavier-uniform on every matrix, then each attention's own init, zero-bias
        # reference_points, normal level embedding
        init_deformable_transformer_weights(self)
        if not self.two_stage:
            nn.init.zeros_(self.reference_points.bias)
        nn.init.normal_(self.level_embed)

    def forward(self, srcs: Sequence[Tensor], masks: Sequence[Tensor], pos_embeds: Sequence[Tensor],
                query_embed: Optional[Tensor] = None, box_heads: Optional[Sequence[nn.Module]] = None,
                proposal_heads: Optional[Tuple[nn.Module, nn.Module]] = None) -> TransformerOutput:
        """Returns TransformerOutput with hs [L, B, Q, C], memory [B, S, C], references (the L
        references [B, Q, 2 | 4] the decoder layers received), levels (FlatLevels) and, two-stage
        only, enc_outputs and proposal_index [B, Q].

        Args:
            srcs, pos_embeds: per level [B, C, H_l, W_l]; masks: per level [B, H_l, W_l] (True = padding).
            query_embed: one-stage only, [Q, 2C].
            box_heads: per decoder layer box MLPs for iterative refinement (None: no refinement).
            proposal_heads: two-stage only, (class head, box head) scoring the encoder proposals.
        """
        if len(srcs) != self.num_levels:
            raise ValueError(f"The transformer was built for {self.num_levels} levels, got {len(srcs)}")
        levels = flatten_levels(list(srcs), list(masks), list(pos_embeds), self.level_embed)
        memory = self.encoder(levels)
        if self.two_stage:
            tgt, query_pos, reference, enc_outputs, index = self._two_stage_queries(memory, levels, proposal_heads)
        else:
            tgt, query_pos, reference = self._learned_queries(query_embed, memory.shape[0])
            enc_outputs = index = None
        hs, references = self.decoder(tgt, query_pos, reference, memory, levels, box_heads)
        return TransformerOutput(hs=hs, memory=memory, references=references, levels=levels,
                                 enc_outputs=enc_outputs, proposal_index=index)

    def _learned_queries(self, query_embed: Tensor, batch: int):
        """query_embed [Q, 2C] -> (content [B, Q, C], position [B, Q, C], reference [B, Q, 2])."""
        if query_embed is None:
            raise ValueError("A one-stage deformable transformer needs query_embed")
        query_pos, tgt = torch.split(query_embed, self.d_model, dim=1)
        query_pos = query_pos[None].expand(batch, -1, -1)
        tgt = tgt[None].expand(batch, -1, -1)
        return tgt, query_pos, self.reference_points(query_pos).sigmoid()

    def _two_stage_queries(self, memory: Tensor, levels: FlatLevels, proposal_heads):
        """Encoder proposals -> (content, position [B, Q, C], reference [B, Q, 4], enc_outputs, index [B, Q])."""
        if proposal_heads is None:
            raise ValueError("A two-stage deformable transformer needs the proposal (class, box) heads")
        class_head, box_head = proposal_heads
        output_memory, proposals = encoder_proposals(memory, levels.mask, levels.level_shapes)
        output_memory = self.enc_output_norm(self.enc_output(output_memory))
        class_logits = class_head(output_memory)
        coords_unact = box_head(output_memory) + proposals
        index, coords = select_proposals(class_logits, coords_unact, self.num_proposals)
        queries = self.pos_trans_norm(self.pos_trans(proposal_pos_embed(coords, self.d_model // 2)))
        query_pos, tgt = torch.split(queries, self.d_model, dim=2)
        enc_outputs = {"pred_logits": class_logits, "pred_boxes": coords_unact.sigmoid()}
        return tgt, query_pos, coords.sigmoid(), enc_outputs, index
