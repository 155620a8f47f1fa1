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
