"""End to end, DAB-DETR and DAB-Deformable-DETR, without and with DN-DETR's denoising training: train a
few steps, an image without objects, inference, checkpoints (tests/harness/e2e_harness.ModelE2EMixin)."""
from tests.harness.e2e_harness import DECODER_LOSSES, ModelE2EMixin

DENOISING = ["MODEL.DN.ENABLED", True, "MODEL.DN.NUM_GROUPS", 2]


class TestDABDETR(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/dab_detr_embedded.yaml"
    TRAINED_PARAMETERS = ("refpoint_embed.weight", "transformer.decoder.ref_anchor_head.layers.0.weight")


class TestDABDeformableDETR(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/dab_deformable_detr_embedded.yaml"
    TRAINED_PARAMETERS = ("refpoint_embed.weight", "tgt_embed.weight")


class DenoisingLosses:
    """DN-DETR's weighted losses of the denoising queries: tgt_<name> (+ _i per aux layer), besides the
    decoder's; zeros for a batch without objects."""

    OVERRIDES = DENOISING
    TRAINED_PARAMETERS = ("label_enc.weight", "refpoint_embed.weight")

    def expected_losses(self, cfg):
        layers = [""] + [f"_{layer}" for layer in range(cfg.MODEL.DETR.DEC_LAYERS - 1)]
        return super().expected_losses(cfg) | {f"tgt_{name}{layer}" for name in DECODER_LOSSES for layer in layers}


class TestDNDABDETR(DenoisingLosses, ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/dab_detr_embedded.yaml"


class TestDNDABDeformableDETR(DenoisingLosses, ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/dab_deformable_detr_embedded.yaml"
