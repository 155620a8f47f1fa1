"""Building blocks shared by the DETR-family methods (each written once; methods import them from here).

misc: MLP, inverse_sigmoid, clone_modules, activation_by_name, split_heads / merge_heads
init: xavier_init_matrices, init_focal_class_bias, zero_last_layer
transformer: with_pos, FeedForward, TransformerEncoderLayer, TransformerEncoder, DecoderLayerBase
transformer_output: TransformerOutput (what every method's transformer returns)
sine_embedding: sine embeddings of scalars and normalised coordinates
boxes: boxes predicted relative to a reference point or box
input_proj: per-level input projections (backbone levels + extra stride-2 levels)
conditional_attention: Conditional DETR's pre-projected, per-head concatenated cross-attention
conditional_decoder_layer: Conditional DETR's decoder layer (DAB-DETR's too; optional self-attention mask)
deformable/: the deformable-attention pieces (levels, encoder, decoder layer, heads, proposals)
levels: valid (unpadded) sizes and ratios of padded feature maps
heads: class / box head construction with the focal prior and zero-initialised box offsets
"""
from projects.layers.init import init_focal_class_bias, xavier_init_matrices, zero_last_layer
from projects.layers.misc import MLP, activation_by_name, clone_modules, inverse_sigmoid

__all__ = [
    "MLP",
    "activation_by_name",
    "clone_modules",
    "init_focal_class_bias",
    "inverse_sigmoid",
    "xavier_init_matrices",
    "zero_last_layer",
]
