"""End to end, Conditional DETR (C5 and DC5): train a few steps, an image without objects, inference,
checkpoints (one config per class through tests/harness/e2e_harness.ModelE2EMixin: tiny sizes, random init)."""
from tests.harness.e2e_harness import ModelE2EMixin

# ResNet-50 layout at 1/8 of its widths (res5: 256 channels): the full-size configs at CPU-test cost
R50_EIGHTH_WIDTH = ["MODEL.RESNETS.STEM_OUT_CHANNELS", 8, "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
                    "MODEL.RESNETS.WIDTH_PER_GROUP", 8, "MODEL.DETR.NUM_CLASSES", 4]


class TestConditionalDETR(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/conditional_detr_embedded.yaml"


class TestConditionalDETRDC5(ModelE2EMixin):
    CONFIG_FILE = "configs/conditional_detr/conditional_detr_dc5_r50_50ep.yaml"
    OVERRIDES = R50_EIGHTH_WIDTH

    def test_dilated_res5_has_stride_16(self, trained):
        assert trained.model.backbone.strides == [16]
