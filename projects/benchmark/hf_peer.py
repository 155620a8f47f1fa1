"""What a method registers to be compared with its Hugging Face transformers counterpart.

A method package builds one ``HFPeer`` in its own ``peer.py`` and passes it as
``Method(benchmark_peer=...)`` (projects/registry.py). The peer names transformers classes as
strings: nothing here or in a method's peer module imports transformers (tools/benchmarks/peers.py
and projects/benchmark/hf_configs.py import it on use).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

from projects.benchmark.hf_weights import HF_BACKBONE, LAYER_RULES, Rule
from projects.registry import method_of_architecture, registered_methods


def no_config_kwargs(cfg) -> dict:
    return {}


def without_auxiliary_loss(cfg) -> dict:
    """HF's ``auxiliary_loss`` off, for DETR-style decoders: with it on, HF layer-normalises the state a
    decoder layer passes to the next (the official code passes the un-normalised state); off, its
    outputs equal the official model's (and ours)."""
    return {"auxiliary_loss": False}


def nothing_unsupported(cfg) -> List[Tuple[bool, str]]:
    return []


@dataclass(frozen=True)
class HFPeer:
    """One meta-architecture's Hugging Face transformers counterpart.

    meta_architecture: our META_ARCHITECTURE that the HF model reproduces.
    config_class, model_class: transformers class names (e.g. ``DetrConfig``, ``DetrForObjectDetection``).
    weight_rules: our parameter names -> HF names (``Rule`` list, first match wins); the backbone and
        the fused q/k/v split are shared (projects/benchmark/hf_weights.py) and need no rule here.
    layer_rules: renames applied, all in order, to every name a weight rule produced; by default the
        FFN / attention-output renames of most HF DETR-family layers (``hf_weights.LAYER_RULES``: ffn.linear1
        -> mlp.fc1, out_proj -> o_proj). A peer whose HF layers name these otherwise passes its own
        (or ``()``) and writes the names out in ``weight_rules``.
    tied: (HF prefix, HF prefix of a module HF ties to it) pairs, e.g. ("bbox_predictor.",
        "model.decoder.bbox_embed."): both get our tensor (HF's state dict lists each tied name).
    backbone: the HF ResNet's prefix in the HF model (``hf_weights.HF_BACKBONE`` unless HF wraps it otherwise).
    default_config: the config file (relative to the checkout) tools/benchmarks/peers.py builds.
    config_kwargs: ``cfg -> dict`` of HF config arguments beyond the transformer sizes every peer
        shares (projects/benchmark/hf_configs.transformer_kwargs); where a key is in both, the peer's wins.
    unsupported: ``cfg -> [(is_bad, message)]``: the method's settings HF cannot express.
    time_training: whether the benchmark also times a training step and measures its memory.
    """

    meta_architecture: str
    config_class: str
    model_class: str
    weight_rules: Sequence[Rule]
    default_config: str
    layer_rules: Sequence[Rule] = tuple(LAYER_RULES)
    tied: Sequence[Tuple[str, str]] = ()
    backbone: str = HF_BACKBONE
    config_kwargs: Callable[[object], dict] = no_config_kwargs
    unsupported: Callable[[object], List[Tuple[bool, str]]] = nothing_unsupported
    time_training: bool = False


def peer_methods() -> Dict[str, HFPeer]:
    """{method name: its HFPeer} of every registered method that has one."""
    return {name: method.benchmark_peer for name, method in registered_methods().items()
            if method.benchmark_peer is not None}


def peer_of(cfg) -> HFPeer:
    """The HFPeer of ``cfg.MODEL.META_ARCHITECTURE``; ValueError when its method registers none."""
    arch = cfg.MODEL.META_ARCHITECTURE
    peer = method_of_architecture(arch).benchmark_peer
    if peer is None or peer.meta_architecture != arch:
        known = sorted(p.meta_architecture for p in peer_methods().values())
        raise ValueError(f"No Hugging Face peer for MODEL.META_ARCHITECTURE {arch!r}; expected one of {known}")
    return peer
