"""What a tiny test model of any registered method needs beside the shared tiny overrides."""
from projects.config import load_config
from projects.registry import method_of_architecture


def method_tiny_overrides(config_file: str) -> list:
    """The flat KEY VALUE list the method of ``config_file`` asks tiny test models to add
    (``Method.tiny_overrides`` of its meta-architecture; empty for most)."""
    architecture = load_config(config_file, freeze=False).MODEL.META_ARCHITECTURE
    return list(method_of_architecture(architecture).tiny_overrides.get(architecture, ()))
