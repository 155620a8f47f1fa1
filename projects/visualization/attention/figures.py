"""Matplotlib panels shared by the attention figures: the image with a heat map, points, a box."""
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

PANEL_INCHES = 2.2


def panel_grid(rows: int, columns: int, title: str):
    """A figure of rows x columns image panels; returns (figure, axes [rows, columns])."""
    figure, axes = plt.subplots(rows, columns, figsize=(PANEL_INCHES * columns, PANEL_INCHES * rows + 0.4),
                                squeeze=False)
    figure.suptitle(title, fontsize=9)
    # fixed margins: tight_layout would render every panel once more just to measure it
    top = 1 - 0.4 / figure.get_figheight()
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=top - 0.02, wspace=0.05, hspace=0.18)
    for ax in axes.flat:
        ax.set_axis_off()
    return figure, axes


def show_image(ax, view, title: str = "") -> None:
    ax.imshow(view.rgb, extent=(0, view.width, view.height, 0))
    ax.set_xlim(0, view.width)
    ax.set_ylim(view.height, 0)
    ax.set_title(title, fontsize=7)


def overlay_map(ax, view, heat: np.ndarray, extent, alpha: float = 0.6) -> None:
    """A [H_l, W_l] map over the image (its own colour range), drawn at ``extent`` (original pixels)."""
    ax.imshow(heat, extent=extent, cmap="jet", alpha=alpha, interpolation="bilinear")
    ax.set_xlim(0, view.width)
    ax.set_ylim(view.height, 0)


def draw_box(ax, xyxy, color: str = "lime") -> None:
    x0, y0, x1, y1 = xyxy
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color, linewidth=1.2))


def draw_marker(ax, xy, color: str = "white", marker: str = "x", size: float = 40) -> None:
    ax.scatter([xy[0]], [xy[1]], c=color, marker=marker, s=size, linewidths=1.5)


def draw_weighted_points(ax, points: np.ndarray, weights: np.ndarray, colors: Optional[Sequence] = None,
                         vmax: Optional[float] = None, max_size: float = 60.0):
    """Points [N, 2] (original pixels) sized by weight [N] (relative to ``vmax``, default their max)
    and, unless ``colors`` is given, coloured by it on the 0..vmax scale."""
    vmax = max(vmax if vmax is not None else float(weights.max()), 1e-12)
    sizes = 4 + max_size * weights / vmax
    if colors is None:
        return ax.scatter(points[:, 0], points[:, 1], c=weights, cmap="jet", s=sizes, edgecolors="black",
                          linewidths=0.3, vmin=0.0, vmax=vmax)
    return ax.scatter(points[:, 0], points[:, 1], c=colors, s=sizes, edgecolors="black", linewidths=0.3)


def save_figure(figure, path: str) -> None:
    figure.savefig(path, dpi=100)
    plt.close(figure)
