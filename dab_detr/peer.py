"""DAB-DETR's Hugging Face transformers counterpart (``DabDetrForObjectDetection``) for tools/benchmarks/peers.py.

Not registered yet (None): see docs/models.md. Names only: transformers is never imported here.
"""
PEER = None
