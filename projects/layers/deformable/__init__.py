"""Deformable-attention building blocks shared by Deformable DETR, DAB-Deformable-DETR and DINO.

levels: FlatLevels, flatten_levels, level_sizes, encoder_reference_points, reference_points_per_level
encoder: DeformableEncoderLayer, DeformableEncoder
decoder_layer: DeformableDecoderLayer (optional self-attention mask for denoising queries)
attention: build_attention (MSDeformAttn, compiled op or reference), init_deformable_transformer_weights
heads: build_heads (class / box heads, shared or one per layer with the official refinement init)
proposals: encoder_proposals (one fixed box per encoder token: two-stage Deformable DETR, DINO)
"""
