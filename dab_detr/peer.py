"""DAB-DETR's Hugging Face transformers counterpart (transformers 5.23 ships ``DabDetrForObjectDetection``)
for tools/benchmarks/peers.py: not registered yet (``PEER = None``).

What blocks it: projects/benchmark/hf_weights.py applies ``LAYER_RULES`` to every mapped name, renaming
``.out_proj.`` to ``.o_proj.``, while HF's DAB-DETR encoder keeps ``self_attn.out_proj`` (its decoder
uses ``self_attn.self_attn.output_proj``); a peer needs to be able to opt out of those shared renames.
"""
PEER = None
