"""Conditional DETR (Meng et al., ICCV 2021) as a Detectron2 meta-architecture."""
import torch
from torch import nn

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from projects.config import require_class_loss
from projects.layers import MLP, init_focal_class_bias, inverse_sigmoid
from projects.meta_arch import DETRBase, pack_outputs
from projects.position_encoding import build_position_encoding

from .transformer import ConditionalTransformer


def boxes_from_reference(box_offsets, reference_points):
    """Boxes relative to each query's reference point (paper Sec. 3.3).

    box_offsets: [L, B, Q, 4] unnormalised (cx, cy, w, h) from the box head; reference_points: [B, Q, 2]
    in (0, 1) -> [L, B, Q, 4] sigmoid boxes. The centre is sigmoid(offset + inverse_sigmoid(s)); width and
    height have no prior.
    """
    center = box_offsets[..., :2] + inverse_sigmoid(reference_points)
    return torch.cat((center, box_offsets[..., 2:]), dim=-1).sigmoid()


@META_ARCH_REGISTRY.register()
class ConditionalDETR(DETRBase):
    """Single-level detector: 1x1 input projection, DETR encoder, conditional decoder, shared heads.

    ``class_embed`` has ``num_classes`` sigmoid logits (no no-object class; trained with focal loss);
    boxes are sigmoid-normalised cxcywh relative to each image's unpadded size.
    """

    @configurable
    def __init__(self, *, transformer: ConditionalTransformer, position_embedding: nn.Module, num_classes: int,
                 num_queries: int, aux_loss: bool = True, prior_prob: float = 0.01, **base_kwargs):
        super().__init__(**base_kwargs)
        in_channels = self.backbone.single_level_channels("Conditional DETR")
        hidden_dim = transformer.d_model
        self.transformer = transformer
        self.position_embedding = position_embedding
        self.input_proj = nn.Conv2d(in_channels, hidden_dim, kernel_size=1)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.class_embed = nn.Linear(hidden_dim, num_classes)
        self.bbox_embed = MLP(hidden_dim, hidden_dim, 4, 3)
        self.aux_loss = aux_loss
        self._init_heads(prior_prob)

    def _init_heads(self, prior_prob):
        # official: focal-loss prior on the class bias; the box head starts at the reference point
        init_focal_class_bias(self.class_embed, prior_prob)
        nn.init.zeros_(self.bbox_embed.layers[-1].weight)
        nn.init.zeros_(self.bbox_embed.layers[-1].bias)

    @classmethod
    def from_config(cls, cfg):
        detr = cfg.MODEL.DETR
        require_class_loss(cfg, "focal", "Conditional DETR")
        if detr.PRE_NORM:
            raise ValueError("Conditional DETR's decoder is post-norm only (official): set MODEL.DETR.PRE_NORM False")
        transformer = ConditionalTransformer(
            d_model=detr.HIDDEN_DIM, nhead=detr.NHEADS, num_encoder_layers=detr.ENC_LAYERS,
            num_decoder_layers=detr.DEC_LAYERS, dim_feedforward=detr.DIM_FEEDFORWARD, dropout=detr.DROPOUT,
        )
        return {
            **super().from_config(cfg),
            "transformer": transformer,
            "position_embedding": build_position_encoding(detr.POSITION_EMBEDDING, detr.HIDDEN_DIM),
            "num_classes": detr.NUM_CLASSES,
            "num_queries": detr.NUM_OBJECT_QUERIES,
            "aux_loss": detr.DEEP_SUPERVISION,
            "prior_prob": cfg.MODEL.CONDITIONAL_DETR.PRIOR_PROB,
        }

    def predict(self, levels, image_sizes, pixel_mask):
        """levels: [(feature [B, C, H, W], mask [B, H, W])] -> outputs dict (see DETRBase).

        ``image_sizes`` and ``pixel_mask`` are not needed: the level mask comes with the feature.
        Also returns "reference_points" [B, Q, 2] (x, y), shared by every decoder layer.
        """
        feature, mask = levels[-1]
        pos = self.position_embedding(mask, dtype=feature.dtype)
        hs, reference_points = self.transformer(self.input_proj(feature), mask, self.query_embed.weight, pos)
        boxes = boxes_from_reference(self.bbox_embed(hs), reference_points)
        outputs = pack_outputs(self.class_embed(hs), boxes, self.aux_loss)
        outputs["reference_points"] = reference_points
        return outputs
