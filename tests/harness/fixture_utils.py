"""The official-behaviour fixtures under tests/fixtures/<method>/: loading, and the one runner of a fixture batch."""
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures"

# Every fixture with a criterion section, and its class loss / class cost: DETR uses softmax CE with a
# no-object class; all the others the sigmoid focal loss.
CRITERION_FIXTURES = [
    ("detr", "r50", "softmax"),
    ("deformable_detr", "single_scale", "focal"),
    ("deformable_detr", "multi_scale", "focal"),
    ("deformable_detr", "box_refine", "focal"),
    ("deformable_detr", "two_stage", "focal"),
    ("conditional_detr", "r50", "focal"),
    ("smca", "single_scale_type1", "focal"),
    ("smca", "single_scale_type2", "focal"),
    ("smca", "single_scale_type3", "focal"),
]
CRITERION_FIXTURE_IDS = [f"{method}-{name}" for method, name, _ in CRITERION_FIXTURES]


def fixture_path(method: str, name: str) -> Path:
    """tests/fixtures/<method>/<name>; a bare variant name ("r50") means "<name>.tiny.pt"."""
    file_name = name if name.endswith(".pt") else f"{name}.tiny.pt"
    return FIXTURE_DIR / method / file_name


def load_fixture(method: str, name: str) -> dict:
    """A fresh copy of the fixture dict, tensors on CPU. Example: ``load_fixture("deformable_detr", "two_stage")``."""
    return torch.load(fixture_path(method, name), map_location="cpu", weights_only=False)


@lru_cache(maxsize=None)
def cached_fixture(method: str, name: str) -> dict:
    """``load_fixture`` loaded once per session: shared between tests, so read it, never modify it."""
    return load_fixture(method, name)


def image_batch(image_sizes):
    """Zero images of the given (h, w) sizes as Detectron2 input dicts (a stub backbone ignores pixels)."""
    return [{"image": torch.zeros(3, h, w), "height": h, "width": w} for h, w in image_sizes]


def run_fixture_batch(model, fixture, watch=None):
    """Run ``model`` on the fixture batch without gradients: preprocess -> backbone -> predict -> inference.

    ``watch`` maps a name to a module (or a list of modules) whose forward output(s) to keep. Returns
    {"pixel_mask": [B, H, W], "image_sizes": [B, 2] (h, w), "levels": [(feature, mask)], "outputs": the
    criterion's input dict, "results": [Instances], "transformer": the transformer's output, and every
    watched name: one output, or a list of outputs in call order}.
    """
    captured, handles = {}, []
    for name, modules in {"transformer": model.transformer, **(watch or {})}.items():
        if isinstance(modules, nn.Module):
            handles.append(modules.register_forward_hook(_keep_output(captured, name)))
        else:
            captured[name] = []
            handles += [module.register_forward_hook(_append_output(captured[name])) for module in modules]
    try:
        with torch.no_grad():
            images, pixel_mask = model.preprocess_image(image_batch(fixture["inputs"]["image_sizes"].tolist()))
            image_sizes = torch.as_tensor(images.image_sizes)
            levels = model.backbone(images.tensor, pixel_mask)
            outputs = model.predict(levels, image_sizes, pixel_mask)
            results = model.inference(outputs, image_sizes)
    finally:
        for handle in handles:
            handle.remove()
    return {"pixel_mask": pixel_mask, "image_sizes": image_sizes, "levels": levels, "outputs": outputs,
            "results": results, **captured}


def _keep_output(captured, name):
    return lambda module, args, output: captured.__setitem__(name, output)


def _append_output(outputs):
    return lambda module, args, output: outputs.append(output)
