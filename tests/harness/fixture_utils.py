"""The official-behaviour fixtures under tests/fixtures/<method>/<name>.tiny.pt: loading, their configs, and the one
runner of a fixture batch. The methods and fixtures are the files present; what a method needs to rebuild its
fixtures' models it registers itself (projects/registry.py: ``official_config``, ``converter``)."""
import re
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from projects.config import default_config
from projects.registry import get_method

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_SUFFIX = ".tiny.pt"
# The fixtures' images are normalised with the official code's (torchvision's) RGB mean and std.
OFFICIAL_PIXEL_MEAN, OFFICIAL_PIXEL_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def fixture_path(method: str, name: str) -> Path:
    """tests/fixtures/<method>/<name>; a bare variant name ("r50") means "<name>.tiny.pt"."""
    file_name = name if name.endswith(".pt") else f"{name}{FIXTURE_SUFFIX}"
    return FIXTURE_DIR / method / file_name


def load_fixture(method: str, name: str) -> dict:
    """A fresh copy of the fixture dict, tensors on CPU. Example: ``load_fixture("deformable_detr", "two_stage")``."""
    return torch.load(fixture_path(method, name), map_location="cpu", weights_only=False)


@lru_cache(maxsize=None)
def cached_fixture(method: str, name: str) -> dict:
    """``load_fixture`` loaded once per session: shared between tests, so read it, never modify it."""
    return load_fixture(method, name)


def model_fixtures():
    """Every (method, name) of a tests/fixtures/<method>/<name>.tiny.pt file, sorted."""
    paths = FIXTURE_DIR.glob(f"*/*{FIXTURE_SUFFIX}")
    return sorted((path.parent.name, path.name[:-len(FIXTURE_SUFFIX)]) for path in paths)


def fixture_cfg(method, name):
    """A config whose MODEL.DETR (and method) keys are the fixture's official arguments, set by the method's
    registered ``official_config``."""
    fixture = cached_fixture(method, name)
    registered = get_method(method)
    if registered.official_config is None:
        raise ValueError(f"{fixture_path(method, name)}: method {method!r} registers no official_config")
    cfg = default_config()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = list(OFFICIAL_PIXEL_MEAN), list(OFFICIAL_PIXEL_STD)
    registered.official_config(cfg, fixture["args"], name)
    return cfg


# The loss keys the shared SetCriterion / TwoStageSetCriterion give: final layer, "_<i>" aux layers, "_enc".
SHARED_LOSS_KEY = re.compile(r"^(loss_ce|loss_bbox|loss_giou|class_error|cardinality_error)(_\d+|_enc)?$")


def _criterion_fixtures():
    """(method, name, class loss) of every fixture with a criterion section whose every stored loss is one the
    shared criterion gives (a method's own losses, e.g. denoising ``_dn`` or DINO's ``_interm``, are tested
    through the method's criterion by its own fixture tests); the class loss ("softmax": CE with a no-object
    class, "focal": sigmoid focal) and class cost are the ones the method's official config sets."""
    return [(method, name, fixture_cfg(method, name).MODEL.DETR.CLASS_LOSS)
            for method, name in model_fixtures() if _shared_losses_only(cached_fixture(method, name))]


def _shared_losses_only(fixture) -> bool:
    return "criterion" in fixture and all(SHARED_LOSS_KEY.match(key) for key in fixture["criterion"]["losses"])


CRITERION_FIXTURES = _criterion_fixtures()
CRITERION_FIXTURE_IDS = [f"{method}-{name}" for method, name, _ in CRITERION_FIXTURES]


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
