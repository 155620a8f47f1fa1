"""Our parameter names -> Hugging Face transformers' names, and the weight copy between the two models.

Every rule is written out (no guessing by shape): each method's rules are in its ``HFPeer``
(``<method>/peer.py``, projects/benchmark/hf_peer.py); here are the parts peers share (the
Detectron2 ResNet -> HF ResNet names, the FFN and attention-output renames most HF DETR-family
layers use, the DETR encoder layer). A rule maps one of our state-dict names to one HF name, except
``nn.MultiheadAttention``'s fused ``in_proj_{weight,bias}`` [3C, ...], which HF keeps as separate
q/k/v projections (rows [0, C) = q, [C, 2C) = k, [2C, 3C) = v), and except the HF modules that HF
ties to another one (``HFPeer.tied``), which get the same tensors.
The copy is refused unless the mapped names are exactly HF's state-dict names, with equal shapes.
"""
import re
from typing import TYPE_CHECKING, Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn

if TYPE_CHECKING:
    from projects.benchmark.hf_peer import HFPeer

# (regular expression on our state-dict name, HF name template for re.Match.expand); first match wins
Rule = Tuple[str, str]

FUSED_QKV = re.compile(r"^(?P<prefix>.*)\.in_proj_(?P<kind>weight|bias)$")
HF_BACKBONE = "model.backbone.model."  # the HF ResNet in most DETR-family models (``HFPeer.backbone``)
IGNORED_PREFIXES = ("criterion.",)  # our loss buffers (e.g. the no-object class weight), not model weights

# FFN and attention output names common to HF's DETR-family layers: every peer's default
# ``HFPeer.layer_rules``, applied (all of them, in order) to the name a weight rule produced
LAYER_RULES: List[Rule] = [
    (r"^(.*)\.ffn\.linear1\.(weight|bias)$", r"\1.mlp.fc1.\2"),
    (r"^(.*)\.ffn\.linear2\.(weight|bias)$", r"\1.mlp.fc2.\2"),
    (r"^(.*)\.out_proj\.(weight|bias)$", r"\1.o_proj.\2"),
]
# the DETR encoder layer (post-norm: self-attention, norm1, FFN, norm2), for the peers whose encoder is DETR's
DETR_ENCODER_RULES: List[Rule] = [
    (r"^transformer\.encoder\.layers\.(\d+)\.norm1\.(.*)$", r"model.encoder.layers.\1.self_attn_layer_norm.\2"),
    (r"^transformer\.encoder\.layers\.(\d+)\.norm2\.(.*)$", r"model.encoder.layers.\1.final_layer_norm.\2"),
    (r"^transformer\.encoder\.(.*)$", r"model.encoder.\1"),
]
# the class and box heads of the peers with DETR's head names
DETR_HEAD_RULES: List[Rule] = [
    (r"^class_embed\.(.*)$", r"class_labels_classifier.\1"),
    (r"^bbox_embed\.(.*)$", r"bbox_predictor.\1"),
]


def query_and_projection_rules(projection_name: str) -> List[Rule]:
    """Our ``input_proj`` -> HF's ``model.<projection_name>``; the learned queries -> HF's position queries."""
    return [(r"^input_proj\.(.*)$", rf"model.{projection_name}.\1"),
            (r"^query_embed\.weight$", r"model.query_position_embeddings.weight")]


def decoder_norm_rules(self_attention_norm: str, cross_attention_norm: str) -> List[Rule]:
    """Our decoder layer norms -> HF's: ``self_attention_norm`` / ``cross_attention_norm`` name ours
    (e.g. "norm1" / "norm2" in DETR; the official Deformable DETR swaps them); norm3 follows the FFN."""
    layer = r"^transformer\.decoder\.layers\.(\d+)\."
    return [(layer + rf"{self_attention_norm}\.(.*)$", r"model.decoder.layers.\1.self_attn_layer_norm.\2"),
            (layer + rf"{cross_attention_norm}\.(.*)$", r"model.decoder.layers.\1.encoder_attn_layer_norm.\2"),
            (layer + r"norm3\.(.*)$", r"model.decoder.layers.\1.final_layer_norm.\2")]


def backbone_name(name: str, prefix: str = HF_BACKBONE):
    """Detectron2 ResNet name (``backbone.body.*``) -> HF ResNet name under ``prefix`` (the HF ResNet's
    place in the HF model), or None if ``name`` is not one.

    stem.conv1 -> embedder.embedder; res<s>.<b>.conv<c> -> encoder.stages.<s-2>.layers.<b>.layer.<c-1>;
    res<s>.<b>.shortcut -> ...shortcut; a conv's ``.norm.*`` (FrozenBN) -> ``.normalization.*``.
    """
    match = re.match(r"^backbone\.body\.(.*)$", name)
    if match is None:
        return None
    rest = match[1]
    conv = re.match(r"^stem\.conv1(\.norm)?\.(\w+)$", rest)
    if conv:
        return f"{prefix}embedder.embedder.{'normalization' if conv[1] else 'convolution'}.{conv[2]}"
    block = re.match(r"^res(\d)\.(\d+)\.(conv(\d)|shortcut)(\.norm)?\.(\w+)$", rest)
    if block is None:
        raise KeyError(f"No HF ResNet name for our backbone parameter {name!r}")
    stage, index, _, conv_index, norm, leaf = block.groups()
    module = "shortcut" if conv_index is None else f"layer.{int(conv_index) - 1}"
    return (f"{prefix}encoder.stages.{int(stage) - 2}.layers.{index}.{module}."
            f"{'normalization' if norm else 'convolution'}.{leaf}")


def hf_names(name: str, shape, peer: "HFPeer") -> List[Tuple[str, Callable]]:
    """[(HF name, slice of our tensor)] for one of our names: three entries for a fused q/k/v, one more
    for each HF module tied to the one the name lands in (``peer.tied``)."""
    mapped = backbone_name(name, peer.backbone)
    if mapped is not None:
        return [(mapped, lambda t: t)]
    for pattern, template in peer.weight_rules:
        match = re.match(pattern, name)
        if match:
            moved = rename_layer_parts(match.expand(template), peer.layer_rules)
            return [entry for alias in with_tied_copies(moved, peer.tied) for entry in expand_fused(alias, shape)]
    raise KeyError(f"No HF name for our parameter {name!r}")


def rename_layer_parts(name: str, layer_rules: Sequence[Rule]) -> str:
    """Apply every rename of ``layer_rules`` (e.g. ``LAYER_RULES``: FFN, attention output) to an
    already-moved name."""
    for pattern, template in layer_rules:
        name = re.sub(pattern, template, name)
    return name


def with_tied_copies(name: str, tied: Sequence[Tuple[str, str]]) -> List[str]:
    """``name`` and its copy in every HF module tied to the one it lands in: ``tied`` holds
    (HF prefix, prefix of the module tied to it), e.g. ("bbox_predictor.", "model.decoder.bbox_embed.")."""
    return [name] + [copy + name[len(source):] for source, copy in tied if name.startswith(source)]


def expand_fused(mapped: str, shape) -> List[Tuple[str, Callable]]:
    """A mapped name ending in ``in_proj_{weight,bias}`` -> its q/k/v projections (row thirds)."""
    fused = FUSED_QKV.match(mapped)
    if fused is None:
        return [(mapped, lambda t: t)]
    rows = shape[0] // 3
    return [(f"{fused['prefix']}.{proj}_proj.{fused['kind']}", lambda t, i=i: t[i * rows:(i + 1) * rows])
            for i, proj in enumerate(("q", "k", "v"))]


def to_hf_state_dict(ours: Dict[str, torch.Tensor], peer: "HFPeer") -> Dict[str, torch.Tensor]:
    """Our state dict -> HF names through ``peer``'s rules (loss buffers dropped). KeyError on a
    name without a rule, ValueError when two of our tensors map to one HF name with different values."""
    mapped: Dict[str, torch.Tensor] = {}
    for name, tensor in ours.items():
        if name.startswith(IGNORED_PREFIXES):
            continue
        for hf_name, select in hf_names(name, tensor.shape, peer):
            value = select(tensor)
            if hf_name in mapped and not torch.equal(mapped[hf_name], value):
                raise ValueError(f"Two of our tensors map to {hf_name} with different values")
            mapped[hf_name] = value
    return mapped


def check_same_layout(mapped: Dict[str, torch.Tensor], theirs: Dict[str, torch.Tensor]) -> None:
    """ValueError listing HF names nobody fills, names HF lacks and shape mismatches (none allowed)."""
    missing = sorted(set(theirs) - set(mapped))
    unexpected = sorted(set(mapped) - set(theirs))
    shapes = [k for k in set(mapped) & set(theirs) if mapped[k].shape != theirs[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"Weight mapping to Hugging Face is incomplete: missing {missing[:5]} ({len(missing)}), "
                         f"unexpected {unexpected[:5]} ({len(unexpected)}), shape mismatches {sorted(shapes)[:5]}")


def copy_weights(ours: nn.Module, hf: nn.Module, peer: "HFPeer") -> None:
    """Load every weight of ``ours`` into ``hf`` through ``peer``'s name mapping (strict, checked first)."""
    mapped = to_hf_state_dict(ours.state_dict(), peer)
    check_same_layout(mapped, hf.state_dict())
    hf.load_state_dict(mapped, strict=True)


def match_trainable(hf: nn.Module, freeze_at: int, prefix: str = HF_BACKBONE) -> None:
    """Give the HF ResNet (under ``prefix`` in ``hf``) the trainable set of Detectron2's
    ``MODEL.BACKBONE.FREEZE_AT``.

    Detectron2 freezes the stem (FREEZE_AT >= 1) and res2..res<FREEZE_AT> (HF stages 0..FREEZE_AT-2).
    HF's own rule ("stage.1" etc. in the name) never matches its own ResNet's "stages.1" names and so
    freezes the whole trunk, which would spare it the backbone's backward in a training comparison.
    """
    frozen = ([f"{prefix}embedder."] if freeze_at >= 1 else []) + [
        f"{prefix}encoder.stages.{stage}." for stage in range(freeze_at - 1)]
    for name, param in hf.named_parameters():
        param.requires_grad_(not name.startswith(tuple(frozen)))


def check_same_trainable(ours: nn.Module, hf: nn.Module, peer: "HFPeer") -> None:
    """ValueError unless exactly the parameters mapped from our trainable ones are trainable in ``hf``."""
    expected = {hf_name for name, p in ours.named_parameters(remove_duplicate=False) if p.requires_grad
                for hf_name, _ in hf_names(name, p.shape, peer)}
    found = {name for name, p in hf.named_parameters(remove_duplicate=False) if p.requires_grad}
    if expected != found:
        diff = sorted(expected ^ found)
        raise ValueError(f"Trainable parameters differ from ours: {diff[:5]} ({len(diff)})")
