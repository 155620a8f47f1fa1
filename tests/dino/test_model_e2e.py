"""End to end, DINO: train a few steps (contrastive denoising on), an image without objects, inference,
checkpoints (tests/harness/e2e_harness.ModelE2EMixin: tiny sizes, random init)."""
from tests.harness.e2e_harness import ModelE2EMixin

DENOISING_LOSSES = ("loss_ce_dn", "loss_bbox_dn", "loss_giou_dn", "loss_ce_dn_0", "loss_bbox_dn_0", "loss_giou_dn_0")
PROPOSAL_LOSSES = ("loss_ce_interm", "loss_bbox_interm", "loss_giou_interm")


class TestDINO(ModelE2EMixin):
    CONFIG_FILE = "configs/quickstart/dino_embedded.yaml"
    EXTRA_LOSSES = DENOISING_LOSSES + PROPOSAL_LOSSES
    # the label embedding learns only through the denoising queries, the proposal heads only through _interm
    TRAINED_PARAMETERS = ("label_enc.weight", "transformer.enc_out_class_embed.weight",
                          "transformer.decoder.layers.0.cross_attn.sampling_offsets.weight")


class TestDINOFiveScale(TestDINO):
    """C2-C5 + one extra level (configs/dino/Base-DINO-5scale.yaml at the quickstart sizes)."""
    OVERRIDES = ("MODEL.RESNETS.OUT_FEATURES", ["res2", "res3", "res4", "res5"],
                 "MODEL.DETR.IN_FEATURES", ["res2", "res3", "res4", "res5"], "MODEL.DINO.NUM_FEATURE_LEVELS", 5)
