"""SMCA: Spatially Modulated Co-Attention DETR (Gao et al., ICCV 2021) for Detectron2.

Importing this package registers two meta-architectures:

* ``SMCA`` — single-scale SMCA, numerically equal to the official code (gaopengcuhk/SMCA-DETR,
  top-level ``models/``); official checkpoints convert with ``convert_smca_state_dict``.
* ``SMCAMultiScale`` — the paper's multi-scale SMCA (strides 16/32/64, 2 intra-scale + 1 multi-scale
  + 2 intra-scale self-attention encoder blocks, scale-selection co-attention). The official
  ``Multi_scale_SMCA.zip`` does not contain this model (it has a convolutional cross-scale encoder
  instead), so it follows the paper's text and is checked by unit tests of its properties.

Usage::

    cfg = get_cfg(); add_smca_config(cfg)
    cfg.merge_from_file("configs/smca/smca_single_scale_r50_50ep.yaml")
    model = build_model(cfg)

Where the official code and the paper differ, this package follows the official code:

1. Centre: predicted once, by a 3-layer MLP (paper: 2 layers) on LayerNorm(query_embed) (the extra
   LayerNorm, official ``norm4``, is not in the paper), and reused unchanged by every decoder layer.
2. Unnormalisation: sigmoid centre x (unpadded width, height) / stride, i.e. feature cells of the
   level (paper: "into the image"); cells are integer positions over the padded map, no +0.5.
   Unlike the official code, the unpadded sizes come from the batch, not from the targets, so
   inference needs no targets.
3. Scales: the FC output a is squared and multiplies the squared distance,
   log G = -(a_x^2 dx^2 + a_y^2 dy^2) / beta (paper: divides by beta s^2), so a ~ 1/s; a starts at 1
   (weight 0, bias 1). beta = 8 (``MODEL.SMCA.SMOOTH``).
4. Offsets and scales are predicted in every decoder layer from that layer's
   LayerNorm(tgt + query_pos), not from the object query; offsets are unbounded, in cells.
5. Box head (Eq. 12): the raw centre logits are added to (cx, cy) of every layer's box MLP output
   before the sigmoid (paper writes (h, w) order and logit(sigmoid(.))).
6. Classification: sigmoid focal loss, focal matching cost, class cost and weight 2 (paper: DETR's
   losses); an official COCO head has 92 columns (COCO ids + never-positive column 91).
7. Post-processing keeps the top ``MODEL.DETR.NUM_TOPK_TEST`` (official: num_queries = 300) of the
   Q x K sigmoid scores.

Beyond the official code (paper options it lacks): ``MODEL.SMCA.HEAD_SHARED`` (the paper's
head-shared modulation), sizes other than 256 channels / 8 heads (official hard-codes them).
Pre-norm is rejected (the official pre-norm path crashes). Multi-scale choices the paper leaves
open: centres and grids of all levels are in stride-32 cell units, so one head's Gaussian is the
same image region on every scale (the official zip instead multiplies distances by 0.5/1/2 per
scale); scale weights are per query, from the same prior features as offsets and scales; a learned
level embedding is added to each level's positional encoding (as the official zip does); the
stride-64 level is a 3x3 stride-2 convolution of res5 (official zip's ``input_proj_2048_3``); its
mask is the nearest resize of the pixel mask like every level (the zip resizes the res5 mask).
"""
from .config import add_smca_config
from .convert import convert_smca_state_dict, describe_official_smca  # registers the official-checkpoint converter
from .smca import SMCA
from .smca_multi_scale import SMCAMultiScale
from .transformer import SMCATransformer, build_smca_transformer, make_smca_transformer
from .method import METHOD  # registers the method (projects.registry)

__all__ = [
    "METHOD",
    "SMCA",
    "SMCAMultiScale",
    "SMCATransformer",
    "add_smca_config",
    "build_smca_transformer",
    "convert_smca_state_dict",
    "describe_official_smca",
    "make_smca_transformer",
]
