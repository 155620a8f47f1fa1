"""Checks for the optional ``deploy`` extra (onnx, onnxscript, onnxruntime)."""
import importlib.util
from typing import List

DEPLOY_EXTRA_HINT = "pip install -e .[deploy]"


def missing_modules(*modules: str) -> List[str]:
    """The names in ``modules`` that cannot be imported."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def require_deploy_extra(*modules: str) -> None:
    """Raises ImportError naming the missing modules and the extra that installs them."""
    missing = missing_modules(*modules)
    if missing:
        raise ImportError(f"ONNX export needs {', '.join(missing)}, from the 'deploy' extra: {DEPLOY_EXTRA_HINT}")
