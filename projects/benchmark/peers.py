"""Our model and its Hugging Face peer with the same weights, fed the same tensors.

Both models see one normalised, zero-padded pixel tensor [B, 3, H, W] and one padding mask
[B, H, W] (ours: True = padding; HF: the inverse, 1 = valid pixel). Ours runs its tensor core
(``backbone`` + ``predict``, what ``DETRBase.forward`` runs less the Detectron2 structures), HF
its ``forward``; both return raw class logits [B, Q, K] and normalised cxcywh boxes [B, Q, 4].
"""
from typing import List, NamedTuple, Sequence, Tuple

import torch
from torch import Tensor, nn

from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling import build_model

from projects.benchmark.hf_configs import build_hf_model
from projects.benchmark.hf_peer import peer_of
from projects.benchmark.hf_weights import check_same_trainable, copy_weights, match_trainable


class PeerPair(NamedTuple):
    arch: str  # our META_ARCHITECTURE
    ours: nn.Module
    hf: nn.Module


class Batch(NamedTuple):
    images: Tensor  # [B, 3, H, W] normalised, zero on padding
    mask: Tensor  # [B, H, W] bool, True = padding
    image_sizes: Tensor  # [B, 2] int64 (h, w)


CALIBRATION_SIZES = [(160, 224)]  # the image the frozen BN statistics are calibrated on
# std of the noise added to every parameter after the official init (see ``perturb``)
PERTURBATION = 0.02


def perturb(model: nn.Module, std: float = PERTURBATION) -> None:
    """Add N(0, std^2) to every parameter. The official init zeroes the box head's last layer and
    the sampling-offset and attention-weight matrices, so at init the boxes and the deformable
    sampling would not depend on the image and a comparison would not exercise them."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param), alpha=std)


def calibrate_frozen_bn(model: nn.Module, batch: "Batch") -> None:
    """Set every FrozenBN's running mean/var to the statistics of its input on ``batch``, in one
    forward pass in execution order (each layer sees the already calibrated layers before it).

    A randomly initialised ResNet with identity BN statistics grows its activations to O(1e3) by
    res5, which saturates the attention and makes all queries alike; calibrated, the features are
    O(1) as in a trained network, and the comparison of every query means something.
    """
    def set_statistics(module, inputs):
        x = inputs[0].detach()
        module.running_mean.copy_(x.mean((0, 2, 3)))
        module.running_var.copy_(x.var((0, 2, 3)))

    hooks = [m.register_forward_pre_hook(set_statistics) for m in model.modules() if isinstance(m, FrozenBatchNorm2d)]
    try:
        with torch.no_grad():
            model.backbone(batch.images, batch.mask)
    finally:
        for hook in hooks:
            hook.remove()


def build_pair(cfg, seed: int = 0) -> PeerPair:
    """Our model from ``cfg`` (random init, seeded, ``perturb``-ed, BN statistics calibrated) and its
    HF peer holding a copy of every weight, both in eval."""
    torch.manual_seed(seed)
    ours = build_model(cfg).eval()
    perturb(ours)
    calibrate_frozen_bn(ours, batch_for(ours, CALIBRATION_SIZES, seed))
    hf = build_hf_model(cfg).eval()
    peer = peer_of(cfg)
    copy_weights(ours, hf, peer)
    match_trainable(hf, cfg.MODEL.BACKBONE.FREEZE_AT, peer.backbone)
    check_same_trainable(ours, hf, peer)
    return PeerPair(cfg.MODEL.META_ARCHITECTURE, ours, hf)


def make_batch(sizes: Sequence[Tuple[int, int]], pixel_mean, pixel_std, seed: int = 0) -> Batch:
    """Random 0..255 images of the given (h, w), normalised with the model's pixel statistics and
    zero-padded bottom/right to the largest size (as ``DETRBase.preprocess_image`` pads)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = (max(size[i] for size in sizes) for i in (0, 1))
    images = torch.zeros(len(sizes), 3, height, width)
    mask = torch.ones(len(sizes), height, width, dtype=torch.bool)
    mean, std = (torch.as_tensor(v, dtype=torch.float32).view(3, 1, 1) for v in (pixel_mean, pixel_std))
    for index, (h, w) in enumerate(sizes):
        pixels = torch.randint(0, 256, (3, h, w), generator=generator).float()
        images[index, :, :h, :w] = (pixels - mean) / std
        mask[index, :h, :w] = False
    return Batch(images, mask, torch.tensor(sizes, dtype=torch.int64))


def batch_for(model: nn.Module, sizes, seed: int = 0) -> Batch:
    """``make_batch`` with ``model``'s pixel mean/std buffers."""
    return make_batch(sizes, model.pixel_mean.flatten().tolist(), model.pixel_std.flatten().tolist(), seed)


def ours_outputs(model: nn.Module, batch: Batch, targets=None):
    """Our tensor core -> the outputs dict (``pred_logits`` [B, Q, K], ``pred_boxes`` [B, Q, 4], aux...)."""
    return model.predict(model.backbone(batch.images, batch.mask), batch.image_sizes, batch.mask, targets)


def hf_outputs(model: nn.Module, batch: Batch, labels=None):
    """HF's forward (its pixel mask: 1 = valid) -> its output object (``logits``, ``pred_boxes``, ``loss``)."""
    return model(pixel_values=batch.images, pixel_mask=(~batch.mask).long(), labels=labels)


def output_differences(pair: PeerPair, batch: Batch) -> Tuple[float, float]:
    """Max |ours - HF| of the class logits and of the boxes on ``batch`` (eval, no grad)."""
    with torch.no_grad():
        ours = ours_outputs(pair.ours, batch)
        theirs = hf_outputs(pair.hf, batch)
    logits = (ours["pred_logits"] - theirs.logits).abs().max().item()
    boxes = (ours["pred_boxes"] - theirs.pred_boxes).abs().max().item()
    return logits, boxes


def random_targets(num_images: int, num_classes: int, boxes_per_image: int = 5, seed: int = 0) -> List[dict]:
    """Training targets in our format: [{"labels": [n] int64, "boxes": [n, 4] normalised cxcywh}]."""
    generator = torch.Generator().manual_seed(seed)
    targets = []
    for _ in range(num_images):
        centre = 0.2 + 0.6 * torch.rand(boxes_per_image, 2, generator=generator)
        size = 0.05 + 0.3 * torch.rand(boxes_per_image, 2, generator=generator)
        labels = torch.randint(0, num_classes, (boxes_per_image,), generator=generator)
        targets.append({"labels": labels, "boxes": torch.cat((centre, size), 1)})
    return targets


def hf_labels(targets: List[dict]) -> List[dict]:
    """Our targets -> HF's ``labels`` argument (same boxes, the class key renamed to ``class_labels``)."""
    return [{"class_labels": t["labels"], "boxes": t["boxes"]} for t in targets]


def ours_training_loss(model: nn.Module, batch: Batch, targets: List[dict]) -> Tensor:
    """Our weighted training loss (matching + criterion, every decoder layer), as the trainer sums it."""
    outputs = ours_outputs(model, batch, targets)
    return sum(model.losses(outputs, targets).values())


def hf_training_loss(model: nn.Module, batch: Batch, targets: List[dict]) -> Tensor:
    """HF's own training loss (its matcher and criterion) on the same targets."""
    return hf_outputs(model, batch, hf_labels(targets)).loss
