"""Load the official-behaviour fixtures copied under tests/fixtures/<method>/."""
from pathlib import Path

import torch

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures"


def fixture_path(method: str, name: str) -> Path:
    """tests/fixtures/<method>/<name>; a bare variant name ("r50") means "<name>.tiny.pt"."""
    file_name = name if name.endswith(".pt") else f"{name}.tiny.pt"
    return FIXTURE_DIR / method / file_name


def load_fixture(method: str, name: str) -> dict:
    """The fixture dict, tensors on CPU. Example: ``load_fixture("deformable_detr", "two_stage")``."""
    return torch.load(fixture_path(method, name), map_location="cpu", weights_only=False)

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
