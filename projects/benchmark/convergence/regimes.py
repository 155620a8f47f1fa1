"""The benchmark's regimes and the methods each one holds, discovered from the config folders.

A regime is a folder of embedded-dataset configs, one per method: ``pretrained`` =
configs/embedded_pretrained/<method>.yaml (the embedded trunk), ``random`` =
configs/quickstart/<method>_embedded.yaml (random init), ``convergence`` =
configs/convergence/<method>.yaml (issue 21: the pretrained trunk, single-level methods at stride 16).

A method is a config: its benchmark name is the config's name, and adding a config to a regime's
folder adds the method to that regime. Each regime holds its own set of methods (a variant such as
DN-DAB-DETR may exist in one regime only); every regime holds the reference, DETR, against which
the speed-up is measured. The one rule that keeps a config of a regime's folder out of the
benchmark: a *main job* (a config whose name holds the word ``main_job``: main_job.yaml,
main_job_<variant>.yaml, <method>_main_job.yaml) is a tool's deliverable with its own schedule, not
a method.
"""
import re
from pathlib import Path
from typing import Dict, List, NamedTuple

REFERENCE = "detr"  # the papers' baseline: every speed-up is measured against its curve
MAIN_JOB = re.compile(r"(^|_)main_job(_|$)")


class Regime(NamedTuple):
    folder: str  # relative to the checkout
    suffix: str  # <method><suffix> is the config's file name
    description: str  # how the table legend and the plot title name it


REGIMES: Dict[str, Regime] = {
    "pretrained": Regime("configs/embedded_pretrained", ".yaml", "pretrained embedded trunk"),
    "random": Regime("configs/quickstart", "_embedded.yaml", "random init"),
    "convergence": Regime("configs/convergence", ".yaml",
                          "convergence regime (pretrained trunk, single-level methods at stride 16)"),
}


def is_main_job(name: str) -> bool:
    """Whether the config named ``name`` (its file name less the regime's suffix) is a main job."""
    return MAIN_JOB.search(name) is not None


def regime_config(root, regime: str, method: str) -> Path:
    """The config ``method`` trains with in ``regime`` (it may not exist)."""
    folder, suffix, _ = REGIMES[regime]
    return Path(root) / folder / f"{method}{suffix}"


def discover_methods(root, regime: str, reference: str = REFERENCE) -> List[str]:
    """The methods of ``regime``: every config of its folder but the main jobs, the reference first
    (the speed-up is measured against it), then by name."""
    folder, suffix, _ = REGIMES[regime]
    names = {path.name[:-len(suffix)] for path in (Path(root) / folder).glob(f"*{suffix}")}
    return sorted((name for name in names if not is_main_job(name)), key=lambda name: (name != reference, name))
