"""End to end, SMCA single- and multi-scale: train a few steps, an image without objects, inference,
checkpoints (one config per class through tests/harness/e2e_harness.ModelE2EMixin: tiny sizes, random init)."""
from tests.harness.e2e_harness import ModelE2EMixin


class TestSMCASingleScale(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/smca_single_scale_embedded.yaml"


class TestSMCAMultiScale(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/smca_multi_scale_embedded.yaml"
    OVERRIDES = ["MODEL.DETR.ENC_LAYERS", 3]  # one per MODEL.SMCA.ENCODER_BLOCKS entry
