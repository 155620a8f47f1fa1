"""How many denoising groups a batch gets, the query budget and the settings check, and the attention mask."""
from typing import Mapping, Optional

import torch
from torch import Tensor


class DenoisingConfigError(ValueError):
    """Denoising settings that cannot work (a one-line message naming the setting)."""


# Official DINO: a doubled dn_number at or above this is a query budget, not a group count.
CDN_BUDGET_THRESHOLD = 100


# The config keys named in the settings errors, after the prefix (MODEL.DN of the DAB models).
SETTING_KEYS = {"num_groups": "NUM_GROUPS", "label_noise_ratio": "LABEL_NOISE_RATIO",
                "box_noise_scale": "BOX_NOISE_SCALE", "max_queries": "MAX_QUERIES"}


def check_denoising_settings(*, num_groups: int, label_noise_ratio: float, box_noise_scale: float,
                             max_queries: Optional[int] = None, prefix: str = "MODEL.DN",
                             keys: Optional[Mapping[str, str]] = None) -> None:
    """Raise DenoisingConfigError (one line, naming the config key) for settings no batch can use.

    num_groups: DN-DETR's scalar or DINO's dn_number (>= 1); label_noise_ratio in [0, 1];
    box_noise_scale >= 0; max_queries (None: unlimited) >= 1. Call it from ``from_config``, so a
    mistake fails before training. The errors name ``prefix``.``SETTING_KEYS[argument]``; ``keys``
    (argument -> full key, e.g. {"num_groups": "MODEL.DINO.DN_NUMBER"}) overrides them.
    """
    names = {argument: f"{prefix}.{key}" for argument, key in SETTING_KEYS.items()}
    names.update(keys or {})
    if num_groups < 1:
        raise DenoisingConfigError(f"{names['num_groups']} must be >= 1 to train with denoising, got {num_groups}")
    if not 0.0 <= label_noise_ratio <= 1.0:
        raise DenoisingConfigError(f"{names['label_noise_ratio']} must be in [0, 1], got {label_noise_ratio}")
    if box_noise_scale < 0:
        raise DenoisingConfigError(f"{names['box_noise_scale']} must be >= 0, got {box_noise_scale}")
    if max_queries is not None and max_queries < 1:
        raise DenoisingConfigError(f"{names['max_queries']} must be >= 1 (or unset), got {max_queries}")


def check_query_budget(pad_size: int, num_groups: int, max_targets: int, max_queries: Optional[int],
                       what: str = "denoising") -> None:
    """DenoisingConfigError when ``pad_size`` rows (num_groups groups for ``max_targets`` boxes) exceed
    ``max_queries`` (None: no budget, the official behaviour)."""
    if max_queries is not None and pad_size > max_queries:
        raise DenoisingConfigError(
            f"{what} needs {pad_size} queries ({num_groups} groups for an image with {max_targets} boxes), "
            f"more than the budget of {max_queries}: lower the number of groups or raise the budget")


def cdn_num_groups(dn_number: int, max_targets: int) -> int:
    """DINO's number of contrastive groups (each = one positive and one negative copy of the boxes).

    Official ``prepare_for_cdn``: G = 2 * dn_number; if G >= 100 it is a budget of about G queries
    and becomes G // (2 * max_targets) (dn_number 100 with <= 5 boxes per image -> 20 groups); 1 when
    the batch has no box or G < 1. Where the official code then silently uses 1 group beyond the
    budget (an image with more than dn_number boxes), this raises DenoisingConfigError.
    """
    groups = 2 * dn_number
    if max_targets == 0 or groups < 1:
        return 1
    if groups < CDN_BUDGET_THRESHOLD:
        return groups
    if groups // (2 * max_targets) == 0:
        raise DenoisingConfigError(
            f"an image with {max_targets} boxes needs {2 * max_targets} contrastive denoising queries, more than "
            f"the budget 2 x dn_number = {groups}: raise the number of denoising queries")
    return groups // (2 * max_targets)


def denoising_attention_mask(num_groups: int, group_size: int, num_queries: int,
                             device: Optional[torch.device] = None) -> Tensor:
    """[P + Q, P + Q] bool self-attention mask, True = blocked (P = num_groups * group_size).

    Official DN-DETR / DINO rule: the Q matching queries cannot see any denoising row (no ground truth
    leaks into matching); a denoising group sees itself (padding rows included) and every matching
    query, but no other group (each group is an independent reconstruction).
    """
    pad_size = num_groups * group_size
    size = pad_size + num_queries
    group = torch.arange(size, device=device) // max(group_size, 1)
    is_dn = torch.arange(size, device=device) < pad_size
    other_group = group[:, None] != group[None, :]
    mask = is_dn[None, :] & (~is_dn[:, None] | other_group)
    return mask
