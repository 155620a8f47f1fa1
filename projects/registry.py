"""The method registry: everything the core, train_net.py and the tools know about a method.

A method package describes itself with one ``Method`` and passes it to ``register_method`` when it
is imported (after its meta-architectures are in Detectron2's META_ARCH_REGISTRY). Nothing in the
core lists methods: ``registered_methods()`` imports every package declared under the entry-point
group ``detr_family.methods`` (setup.py declares this project's; a user's own package plugs a
method in by declaring itself there too) and returns what they registered. See
docs/ADDING_A_METHOD.md.
"""
import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Callable, Dict, Mapping, Optional, Tuple

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "detr_family.methods"


@dataclass(frozen=True)
class Method:
    """What one method tells the core about itself.

    name: the CLI name (``--method <name>``); by convention the package's name.
    package: the import path of the package (its logger's name too); default ``name``.
    add_config: ``add_<method>_config(cfg)``, adding the method's own config keys (idempotent).
    meta_architectures: the names it registers in META_ARCH_REGISTRY (cfg.MODEL.META_ARCHITECTURE).
    checkpoint_signatures: meta-architecture -> parameter-name fragments that together occur only in
        that model's checkpoints; names the method of a checkpoint that does not fit (the longest
        matching tuple wins, so a model that extends another lists the other's fragments too).
    converter: the ``projects.checkpoint.OfficialConverter`` of its official checkpoints, if any.
    attention_recorders: meta-architecture -> recorder factory of tools/visualize_attention.py: called
        like the recorder class, ``factory(pixels)`` (a function that imports the recorder's module on
        use keeps matplotlib out of the package import).
    official_config: ``(cfg, args, variant) -> None``: sets this method's keys of ``cfg`` from the
        official training script's arguments (``args``, a dict) for an official variant; the test
        harness builds the official fixtures' tiny models with it.
    benchmark_peer: how tools/benchmarks/peers.py builds and fills the Hugging Face transformers
        counterpart of the method's models, a ``projects.benchmark.hf_peer.HFPeer`` (None: no peer).
    tiny_overrides: meta-architecture -> config overrides (flat KEY VALUE strings) that a tiny test model
        with one encoder layer also needs (e.g. an encoder-block list of matching length).
    """

    name: str
    add_config: Callable
    meta_architectures: Tuple[str, ...]
    checkpoint_signatures: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    converter: Optional[object] = None
    attention_recorders: Mapping[str, Callable] = field(default_factory=dict)
    official_config: Optional[Callable] = None
    benchmark_peer: Optional[object] = None
    tiny_overrides: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    package: str = ""

    @property
    def logger_name(self) -> str:
        """The logger of the method's package (its modules log with ``logging.getLogger(__name__)``)."""
        return self.package or self.name


def imported_on_use(module: str, name: str) -> Callable:
    """A factory that imports ``module`` and calls its ``name`` only when the factory itself is called,
    so that a registration stays light (e.g. an attention recorder whose module imports matplotlib)."""

    def factory(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    factory.__qualname__ = f"imported_on_use({module}.{name})"
    return factory


class UnregisteredMethodError(KeyError):
    """A config or tool names a method or meta-architecture that no imported package registered."""

    def __str__(self):
        return self.args[0]


_METHODS: Dict[str, Method] = {}
_DISCOVERED = []  # one True once the entry points have been imported


def register_method(method: Method) -> Method:
    """Add ``method`` (registering the same name again replaces it, e.g. on a module reload)."""
    _METHODS[method.name] = method
    return method


def discover_methods() -> None:
    """Import every package declared under ``detr_family.methods`` (once per process)."""
    if _DISCOVERED:
        return
    _DISCOVERED.append(True)
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        try:
            importlib.import_module(point.module)
        except ImportError as error:
            logger.warning("Method package %s (entry point %s) could not be imported: %s",
                           point.value, point.name, error)


def registered_methods() -> Dict[str, Method]:
    """Every registered method by name, after importing the declared method packages."""
    discover_methods()
    return dict(sorted(_METHODS.items()))


def get_method(name: str) -> Method:
    """The registered method ``name``; UnregisteredMethodError listing the registered ones otherwise."""
    methods = registered_methods()
    if name not in methods:
        raise UnregisteredMethodError(f"no method {name!r} is registered (registered: {', '.join(methods)})")
    return methods[name]


def method_of_architecture(meta_architecture: str) -> Method:
    """The method that registers ``meta_architecture``, or an UnregisteredMethodError naming what to do."""
    for method in registered_methods().values():
        if meta_architecture in method.meta_architectures:
            return method
    known = ", ".join(a for m in registered_methods().values() for a in m.meta_architectures)
    raise UnregisteredMethodError(
        f"MODEL.META_ARCHITECTURE {meta_architecture!r} is not registered by any installed method (registered: "
        f"{known}). Import the package that defines it before building the config, or declare that package "
        f"under the '{ENTRY_POINT_GROUP}' entry-point group of its setup.py (docs/ADDING_A_METHOD.md); after a "
        f"pull that added a method, reinstall this project (bash tools/setup_env.sh) so the entry points are read again."
    )
