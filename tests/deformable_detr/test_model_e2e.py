"""End to end, every Deformable DETR variant: train a few steps, an image without objects, inference,
checkpoints (one config per class through tests/harness/e2e_harness.ModelE2EMixin: tiny sizes, random init)."""
from tests.harness.e2e_harness import ModelE2EMixin

ENCODER_LOSSES = ("loss_ce_enc", "loss_bbox_enc", "loss_giou_enc")


class TestDeformableDETRSingleScale(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/deformable_detr_single_scale_embedded.yaml"
    TRAINED_PARAMETERS = ("transformer.encoder.layers.0.self_attn.sampling_offsets.weight",)


class TestDeformableDETR(TestDeformableDETRSingleScale):
    CONFIG_FILE = "configs/quickstart/deformable_detr_embedded.yaml"


class TestDeformableDETRBoxRefine(TestDeformableDETRSingleScale):
    CONFIG_FILE = "configs/quickstart/deformable_detr_refine_embedded.yaml"


class TestDeformableDETRTwoStage(TestDeformableDETRSingleScale):
    CONFIG_FILE = "configs/quickstart/deformable_detr_two_stage_embedded.yaml"
    EXTRA_LOSSES = ENCODER_LOSSES
