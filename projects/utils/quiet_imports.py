"""Import Detectron2 without its known import-time deprecation warnings, and nothing broader.

Detectron2 (detectron2/modeling/box_regression.py) and fvcore (fvcore/nn/focal_loss.py, imported by
detectron2/engine/hooks.py) call ``torch.jit.script`` when they are imported, and torch 2.10+ warns
``FutureWarning: `torch.jit.script` is deprecated`` for each call: the first lines of every command,
before anything of ours. ``import_detectron2_quietly`` imports those modules with exactly that
warning (message, category and the torch module that issues it) ignored, inside
``warnings.catch_warnings``: no warning filter is left installed afterwards, so a user's own
``torch.jit.script`` still warns. If Detectron2 was imported before, this does nothing.

It must run before the first import of ``detectron2.engine`` or ``detectron2.modeling``, which is why
``projects.config`` (the first module ``import projects`` runs) calls it, not each entry point: an entry
point cannot run code before ``import projects`` imports Detectron2.
"""
import importlib
import warnings

# (category, message regex, module regex of the warning's origin) of each known import-time warning
KNOWN_IMPORT_DEPRECATIONS = (
    (FutureWarning, r"`torch\.jit\.script` is deprecated", r"torch\.jit\._script"),
)
QUIETLY_IMPORTED = ("detectron2.engine", "detectron2.modeling")


def import_detectron2_quietly() -> None:
    """Import QUIETLY_IMPORTED with KNOWN_IMPORT_DEPRECATIONS ignored during the import only."""
    with warnings.catch_warnings():
        for category, message, module in KNOWN_IMPORT_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=category, module=module)
        for name in QUIETLY_IMPORTED:
            importlib.import_module(name)
