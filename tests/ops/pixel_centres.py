"""Sampling locations at exact pixel centres, where the pixel coordinate loc * size - 0.5 lands on
an integer and its rounding decides which cell the location gradient uses.

The kernels compute the product and the difference each rounded (no fused multiply-add), on the
CPU and on the GPU. This module builds such inputs, the location gradient that rule implies, and
counts how many of the points a fused multiply-add would move to another cell (so that a test can
show it is sensitive to the difference).
"""
from fractions import Fraction
from typing import Dict, Tuple

import torch

from tests.ops.inputs import level_layout

WIDTHS = (3, 5, 7, 11, 13, 19, 25, 38, 50, 76, 100, 152)  # not powers of two: loc = (i + 0.5) / W rounds
CHANNELS = 16


def pixel_centre_inputs(dtype: torch.dtype, width: int, seed: int = 0) -> Dict[str, torch.Tensor]:
    """One image, one 1 x width level, one head of CHANNELS channels, one query per pixel, sampling
    that pixel's centre ((i + 0.5) / width, 0.5) with weight 1. On a one-row map y sits exactly on
    row 0, so only x decides the cell."""
    generator = torch.Generator().manual_seed(seed)
    spatial_shapes, level_start_index = level_layout(((1, width),))
    value = torch.randn(1, width, 1, CHANNELS, generator=generator, dtype=torch.float64).to(dtype)
    centres = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    locations = torch.stack([centres.to(dtype), torch.full((width,), 0.5, dtype=dtype)], -1)
    return {"value": value, "spatial_shapes": spatial_shapes, "level_start_index": level_start_index,
            "sampling_locations": locations.view(1, width, 1, 1, 1, 2),
            "attention_weights": torch.ones(1, width, 1, 1, 1, dtype=dtype)}


def unfused_cells(locations_x: torch.Tensor, width: int) -> torch.Tensor:
    """floor(round(round(loc * W) - 0.5)): the left column of each point's cell, in loc's dtype."""
    return torch.floor(locations_x * width - 0.5).long()  # two elementwise ops, each rounded


def fused_cells(locations_x: torch.Tensor, width: int) -> torch.Tensor:
    """The same with loc * W - 0.5 rounded once (a fused multiply-add). The exact value is rounded
    to float64 and then to loc's dtype; that can differ from one rounding only at an exact tie,
    which a value this close to an integer never is."""
    cells = []
    for loc in locations_x.tolist():
        exact = Fraction(loc) * width - Fraction(1, 2)
        rounded = torch.tensor(float(exact), dtype=torch.float64).to(locations_x.dtype)
        cells.append(int(torch.floor(rounded)))
    return torch.tensor(cells)


def expected_location_gradient(inputs: Dict[str, torch.Tensor], cells: torch.Tensor) -> torch.Tensor:
    """d(sum of the output)/d(loc_x) for the given cells: W * (S[x0 + 1] - S[x0]), S[t] = sum of
    pixel t's channels (zero off the map); y contributes nothing on a one-row map. [W] float64."""
    width = inputs["value"].shape[1]
    sums = inputs["value"].double().sum(-1).view(width)
    padded = torch.cat([sums.new_zeros(1), sums, sums.new_zeros(1)])  # index t + 1 holds pixel t
    return width * (padded[cells + 2] - padded[cells + 1])


def cells_and_counts(dtype: torch.dtype) -> Tuple[int, int]:
    """(points, points whose cell a fused multiply-add would change) over all WIDTHS."""
    points = changed = 0
    for width in WIDTHS:
        x = pixel_centre_inputs(dtype, width)["sampling_locations"][..., 0].flatten()
        points += width
        changed += int((unfused_cells(x, width) != fused_cells(x, width)).sum())
    return points, changed
