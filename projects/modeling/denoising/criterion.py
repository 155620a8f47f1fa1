"""The denoising losses, as an extension of the shared ``SetCriterion`` (no copy of its losses).

The model puts ``pack_denoising_outputs(...)`` into its outputs (``dn_outputs``: the denoising part's
predictions; ``dn_queries``: the ``DenoisingQueries`` they came from). The dn rows are supervised with
fixed pairs (no Hungarian matching) through the criterion's own ``get_loss``:

"noised" (official DN-DETR ``compute_dn_loss``): the known rows are gathered (padding rows take no
    part), focal loss against one-hot of the clean label, L1 and GIoU against the clean box, all / the
    number of noised copies (no averaging over workers); keys ``tgt_loss_ce``, ``tgt_class_error``,
    ``tgt_loss_bbox``, ``tgt_loss_giou`` (+ ``_i`` for aux layer i).
"contrastive" (official DINO ``SetCriterion.forward``): every loss of ``losses`` on the whole dn part, the
    positives paired with their targets, negatives and padding rows unmatched ("no object"), / (the
    averaged box count * G); keys ``<name>_dn`` and ``<name>_dn_i``, no ``class_error``.
Outside training (criterion.eval()) or without dn outputs both emit their keys as exact zeros, as the
official criteria do.
"""
from typing import Callable, Dict, Iterator, Optional, Tuple

import torch
from torch import Tensor

from projects.modeling.criterion import (SetCriterion, Targets, TwoStageSetCriterion, average_num_boxes,
                                         build_criterion)
from projects.modeling.denoising.queries import DN_OUTPUTS_KEY, DN_QUERIES_KEY, DenoisingQueries

DN_STYLES = ("noised", "contrastive")
# The keys each loss of ``SetCriterion.losses`` returns, for the zeros emitted without dn outputs.
LOSS_KEYS = {"labels": ("loss_ce", "class_error"), "boxes": ("loss_bbox", "loss_giou"),
             "cardinality": ("cardinality_error",)}
DN_DETR_LOSSES = ("labels", "boxes")
# Official DN-DETR and DINO util/box_ops: GIoU = inter / (union + 1e-6) - (hull - union) / (hull + 1e-6).
OFFICIAL_GIOU_EPS = 1e-6


def denoising_weight_dict(style: str, *, class_weight: float, bbox_weight: float, giou_weight: float,
                          num_aux_layers: int = 0) -> Dict[str, float]:
    """The dn entries of the weight dict (official: the matching losses' coefficients).

    "noised": tgt_loss_ce, tgt_loss_bbox, tgt_loss_giou (+ ``_i``); "contrastive": loss_ce_dn, loss_bbox_dn,
    loss_giou_dn (+ ``_dn_i``). Merge into ``make_weight_dict``'s result.
    """
    base = {"loss_ce": class_weight, "loss_bbox": bbox_weight, "loss_giou": giou_weight}
    suffixes = [""] + [f"_{i}" for i in range(num_aux_layers)]
    return {dn_key(style, name, suffix): weight for suffix in suffixes for name, weight in base.items()}


def dn_key(style: str, name: str, layer_suffix: str) -> str:
    """The official key of loss ``name`` of a dn layer ("" final, "_i" aux): tgt_<name><_i> or <name>_dn<_i>."""
    return f"tgt_{name}{layer_suffix}" if style == "noised" else f"{name}_dn{layer_suffix}"


def check_dn_style(style: str) -> str:
    """``style`` when it is one of DN_STYLES; a ValueError otherwise."""
    if style not in DN_STYLES:
        raise ValueError(f"dn_style must be one of {DN_STYLES}, got {style!r}")
    return style


class DenoisingCriterion(SetCriterion):
    """SetCriterion plus the denoising losses of ``dn_style`` (see the module docstring).

    outputs: the SetCriterion outputs (matching queries only) plus, in training with denoising,
    ``DN_OUTPUTS_KEY`` ({"pred_logits": [B, P, K], "pred_boxes": [B, P, 4], "aux_outputs": [...]}) and
    ``DN_QUERIES_KEY`` (the DenoisingQueries). Keys of the dn losses: see ``dn_key``.
    """

    def __init__(self, *, dn_style: str = "contrastive", **kwargs):
        """dn_style: "noised" (DN-DETR) or "contrastive" (DINO); every other argument as SetCriterion."""
        super().__init__(**kwargs)
        self.dn_style = check_dn_style(dn_style)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dn_style={self.dn_style}"

    def _losses(self, outputs, targets: Targets, indices) -> Dict[str, Tensor]:
        losses = super()._losses(outputs, targets, indices)
        losses.update(self.denoising_losses(outputs, targets))
        return losses

    def denoising_losses(self, outputs, targets: Targets) -> Dict[str, Tensor]:
        """The dn losses of every decoder layer (zeros outside training or without dn outputs)."""
        num_layers = 1 + len(outputs.get("aux_outputs", []))
        dn_outputs, queries = outputs.get(DN_OUTPUTS_KEY), outputs.get(DN_QUERIES_KEY)
        if not self.training or dn_outputs is None or queries is None or queries.pad_size == 0:
            return self._zero_losses(num_layers, outputs["pred_logits"].device)
        supervision = self._noised_supervision if self.dn_style == "noised" else self._contrastive_supervision
        layer_losses = supervision(targets, queries)
        losses = {}
        for suffix, layer in _layers(dn_outputs):
            losses.update({dn_key(self.dn_style, name, suffix): value for name, value in layer_losses(layer).items()})
        return losses

    def _contrastive_supervision(self, targets: Targets, queries: DenoisingQueries) -> Callable[[Dict], Dict[str, Tensor]]:
        """DINO: every loss of ``losses`` on the whole dn part [B, P, ...]; the positives are paired with their
        targets, negatives and padding rows stay unmatched; normaliser = averaged box count x G."""
        num_boxes = average_num_boxes(targets, queries.anchors.device) * queries.num_groups
        pairs = queries.positive_indices(len(targets))

        def layer_losses(layer):
            losses = {}
            for loss in self.losses:
                kwargs = {"log": False} if loss == "labels" else {}
                losses.update(self.get_loss(loss, layer, targets, pairs, num_boxes, **kwargs))
            return losses
        return layer_losses

    def _noised_supervision(self, targets: Targets, queries: DenoisingQueries) -> Callable[[Dict], Dict[str, Tensor]]:
        """DN-DETR: the M noised rows gathered as one image of M queries, row i paired with its clean target;
        normaliser M (official: no averaging over workers, padding rows take no part)."""
        rows = (queries.batch_index, queries.query_index)
        clean = [{key: torch.cat([t[key] for t in targets]) for key in ("labels", "boxes")}]
        first = torch.tensor([0] + [len(t["labels"]) for t in targets[:-1]], device=rows[0].device).cumsum(0)
        pairs = [(torch.arange(len(rows[0]), device=rows[0].device), first[queries.batch_index] + queries.target_index)]

        def layer_losses(layer):
            gathered = {key: layer[key][rows][None] for key in ("pred_logits", "pred_boxes")}
            losses = {}
            for loss in DN_DETR_LOSSES:
                losses.update(self.get_loss(loss, gathered, clean, pairs, float(len(rows[0]))))
            return {name: losses[name] for name in self._dn_loss_names()}
        return layer_losses

    def _zero_losses(self, num_layers: int, device) -> Dict[str, Tensor]:
        suffixes = [""] + [f"_{i}" for i in range(num_layers - 1)]
        return {dn_key(self.dn_style, name, suffix): torch.zeros((), device=device)
                for suffix in suffixes for name in self._dn_loss_names()}

    def _dn_loss_names(self) -> Tuple[str, ...]:
        """The names the dn losses of one layer have (before ``dn_key``)."""
        if self.dn_style == "noised":
            return LOSS_KEYS["labels"] + LOSS_KEYS["boxes"]
        parts = ("loss_xy", "loss_hw") if self.log_box_parts else ()
        names = {"labels": ("loss_ce",), "boxes": LOSS_KEYS["boxes"] + parts, "cardinality": LOSS_KEYS["cardinality"]}
        return tuple(name for loss in self.losses for name in names[loss])


class TwoStageDenoisingCriterion(DenoisingCriterion, TwoStageSetCriterion):
    """DenoisingCriterion with the two-stage encoder loss (``_enc``) of TwoStageSetCriterion."""


def _layers(dn_outputs) -> Iterator[Tuple[str, Dict]]:
    """(suffix, predictions) of the final dn layer ("") and aux dn layer i ("_i")."""
    yield "", dn_outputs
    for i, aux in enumerate(dn_outputs.get("aux_outputs", [])):
        yield f"_{i}", aux


def build_denoising_criterion(cfg, class_loss: str, dn_style: str, two_stage: bool = False,
                              criterion_class: Optional[type] = None, giou_eps: float = OFFICIAL_GIOU_EPS,
                              **criterion_kwargs) -> DenoisingCriterion:
    """``build_criterion`` (MODEL.DETR) with the dn losses of ``dn_style`` and their weights.

    criterion_class: a DenoisingCriterion subclass (e.g. one that supervises more prediction sets);
    default DenoisingCriterion (TwoStageDenoisingCriterion when ``two_stage``).
    giou_eps: official DN-DETR and DINO add 1e-6 to the GIoU denominators (their ``box_ops``).
    criterion_kwargs: further SetCriterion arguments (e.g. ``log_box_parts=True`` for loss_xy / loss_hw).
    """
    default = TwoStageDenoisingCriterion if two_stage else DenoisingCriterion
    criterion = build_criterion(cfg, class_loss, two_stage=two_stage, criterion_class=criterion_class or default,
                                dn_style=check_dn_style(dn_style), giou_eps=giou_eps, **criterion_kwargs)
    detr = cfg.MODEL.DETR
    criterion.weight_dict.update(denoising_weight_dict(
        dn_style, class_weight=detr.CLASS_WEIGHT, bbox_weight=detr.L1_WEIGHT, giou_weight=detr.GIOU_WEIGHT,
        num_aux_layers=detr.DEC_LAYERS - 1 if detr.DEEP_SUPERVISION else 0))
    return criterion
