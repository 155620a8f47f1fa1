"""DINO's losses: the shared denoising criterion plus the encoder proposals' ``_interm`` losses."""
from typing import Dict, Iterator, Tuple

from projects.modeling.criterion import Targets
from projects.modeling.denoising.criterion import DenoisingCriterion, build_denoising_criterion

INTERM_KEY = "interm_outputs"
INTERM_SUFFIX = "_interm"
GIOU_EPS = 1e-6  # official DINO box_ops: + 1e-6 in the GIoU denominators


class DINOSetCriterion(DenoisingCriterion):
    """The denoising criterion ("dino" keys: ``<loss>_dn``, ``<loss>_dn_i``) plus the selected encoder
    proposals (``outputs["interm_outputs"]``), matched and supervised like a decoder layer with the
    *real* labels (official DINO; two-stage Deformable DETR's ``_enc`` loss uses class-agnostic targets
    instead), suffix ``_interm``."""

    def supervised_outputs(self, outputs, targets: Targets) -> Iterator[Tuple[str, Dict, Targets]]:
        yield from super().supervised_outputs(outputs, targets)
        if INTERM_KEY in outputs:
            yield INTERM_SUFFIX, outputs[INTERM_KEY], targets


def build_dino_criterion(cfg, class_loss: str) -> DINOSetCriterion:
    """The shared criterion (matcher, focal loss and weights from MODEL.DETR) with DINO's denoising and
    ``_interm`` losses; ``loss_xy`` / ``loss_hw`` are logged and the GIoU has the official eps. Official weights:
    the ``_dn`` and ``_interm`` losses take the matching losses' coefficients (``_interm`` times
    MODEL.DINO.INTERM_LOSS_WEIGHT)."""
    criterion = build_denoising_criterion(cfg, class_loss, "contrastive", criterion_class=DINOSetCriterion)
    criterion.log_box_parts = True
    criterion.giou_eps = GIOU_EPS
    detr, scale = cfg.MODEL.DETR, cfg.MODEL.DINO.INTERM_LOSS_WEIGHT
    base = {"loss_ce": detr.CLASS_WEIGHT, "loss_bbox": detr.L1_WEIGHT, "loss_giou": detr.GIOU_WEIGHT}
    criterion.weight_dict.update({name + INTERM_SUFFIX: weight * scale for name, weight in base.items()})
    return criterion
