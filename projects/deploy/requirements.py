"""Checks for the optional ``deploy`` extra (onnx, onnxscript, onnxruntime)."""
import importlib.util

DEPLOY_EXTRA_HINT = "pip install -e .[deploy]"


def require_deploy_extra(*modules: str) -> None:
    """Raises ImportError naming the missing modules and the extra that installs them."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"ONNX export needs {', '.join(missing)}, from the 'deploy' extra: {DEPLOY_EXTRA_HINT}")
