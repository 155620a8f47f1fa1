"""End to end, every method and variant: train a few steps, an image without objects, inference, checkpoints.

Each class is one config through tests/e2e_harness.ModelE2EMixin (quickstart configs, tiny sizes,
random init); method-specific checks are the extra attributes and methods of its class.
"""
from conditional_detr import add_conditional_detr_config
from deformable_detr import add_deformable_detr_config
from projects import add_detr_config
from smca import add_smca_config
from tests.harness.e2e_harness import ModelE2EMixin

ENCODER_LOSSES = ("loss_ce_enc", "loss_bbox_enc", "loss_giou_enc")
# ResNet-50 layout at 1/8 of its widths (res5: 256 channels): the full-size configs at CPU-test cost
R50_EIGHTH_WIDTH = ["MODEL.RESNETS.STEM_OUT_CHANNELS", 8, "MODEL.RESNETS.RES2_OUT_CHANNELS", 32,
                    "MODEL.RESNETS.WIDTH_PER_GROUP", 8, "MODEL.DETR.NUM_CLASSES", 4]


class TestDETR(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/detr_embedded.yaml"
    ADD_CONFIG = add_detr_config


class TestDeformableDETRSingleScale(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/deformable_detr_single_scale_embedded.yaml"
    ADD_CONFIG = add_deformable_detr_config
    TRAINED_PARAMETERS = ("transformer.encoder.layers.0.self_attn.sampling_offsets.weight",)


class TestDeformableDETR(TestDeformableDETRSingleScale):
    CONFIG_FILE = "configs/quickstart/deformable_detr_embedded.yaml"


class TestDeformableDETRBoxRefine(TestDeformableDETRSingleScale):
    CONFIG_FILE = "configs/quickstart/deformable_detr_refine_embedded.yaml"


class TestDeformableDETRTwoStage(TestDeformableDETRSingleScale):
    CONFIG_FILE = "configs/quickstart/deformable_detr_two_stage_embedded.yaml"
    EXTRA_LOSSES = ENCODER_LOSSES


class TestConditionalDETR(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/conditional_detr_embedded.yaml"
    ADD_CONFIG = add_conditional_detr_config


class TestConditionalDETRDC5(ModelE2EMixin):
    CONFIG_FILE = "configs/conditional_detr/conditional_detr_dc5_r50_50ep.yaml"
    ADD_CONFIG = add_conditional_detr_config
    OVERRIDES = R50_EIGHTH_WIDTH

    def test_dilated_res5_has_stride_16(self, trained):
        assert trained.model.backbone.strides == [16]


class TestSMCASingleScale(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/smca_single_scale_embedded.yaml"
    ADD_CONFIG = add_smca_config


class TestSMCAMultiScale(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/smca_multi_scale_embedded.yaml"
    ADD_CONFIG = add_smca_config
    OVERRIDES = ["MODEL.DETR.ENC_LAYERS", 3]  # one per MODEL.SMCA.ENCODER_BLOCKS entry
