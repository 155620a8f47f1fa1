"""Side-by-side comparison with Hugging Face transformers' DETR-family models (tools/benchmark_peers.py).

transformers is an optional benchmark dependency (tools/benchmark_requirements.txt): nothing in
the project imports this package; its modules import transformers when they are used.
"""
