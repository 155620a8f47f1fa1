"""The benchmark's regimes and the methods each one holds, discovered from the config folders.

A regime is a folder of embedded-dataset configs, one per method: ``pretrained`` =
configs/embedded_pretrained/<method>.yaml (the embedded trunk), ``random`` =
configs/quickstart/<method>_embedded.yaml (random init). A method's benchmark name is its config's
name; adding a config to the folder adds the method to the benchmark.
"""
from pathlib import Path
from typing import Dict, List, NamedTuple


class Regime(NamedTuple):
    folder: str  # relative to the checkout
    suffix: str  # <method><suffix> is the config's file name


REGIMES: Dict[str, Regime] = {
    "pretrained": Regime("configs/embedded_pretrained", ".yaml"),
    "random": Regime("configs/quickstart", "_embedded.yaml"),
}
NOT_METHODS = {"main_job"}  # configs in a regime's folder that are not one of the benchmark's methods


def regime_config(root, regime: str, method: str) -> Path:
    """The config ``method`` trains with in ``regime`` (it may not exist)."""
    folder, suffix = REGIMES[regime]
    return Path(root) / folder / f"{method}{suffix}"


def discover_methods(root, regime: str, reference: str = "detr") -> List[str]:
    """The methods of ``regime``: every config of its folder (``NOT_METHODS`` aside), the reference
    first (the speed-up is measured against it), then by name."""
    folder, suffix = REGIMES[regime]
    methods = {path.name[:-len(suffix)] for path in (Path(root) / folder).glob(f"*{suffix}")} - NOT_METHODS
    return sorted(methods, key=lambda method: (method != reference, method))
