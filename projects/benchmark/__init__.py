"""The benchmarks' logic (their command lines are tools/benchmarks/*.py).

* ``convergence``: the convergence benchmark on the embedded dataset (tools/benchmarks/convergence.py);
* ``hf_peer``: ``HFPeer``, what a method registers (``Method.benchmark_peer``) to be compared with
  its Hugging Face transformers counterpart; ``hf_configs``, ``hf_weights``, ``peers``: building
  that counterpart, copying our weights into it, feeding both the same tensors
  (tools/benchmarks/peers.py);
* ``timing``: timing and peak-memory helpers shared by the benchmarks.

transformers is an optional benchmark dependency (tools/benchmarks/requirements.txt): nothing in
the project imports it at import time; ``hf_configs`` imports it when a peer is built.
"""
