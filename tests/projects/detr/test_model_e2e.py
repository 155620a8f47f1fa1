"""End to end, DETR: train a few steps, an image without objects, inference, checkpoints
(one config through tests/harness/e2e_harness.ModelE2EMixin: tiny sizes, random init)."""
from tests.harness.e2e_harness import ModelE2EMixin


class TestDETR(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/detr_embedded.yaml"
