"""What every deformable-attention method's recorder shares (Deformable DETR, DINO, ...): the sampling
locations and weights an ``MSDeformAttn`` received, and the figure of one query's sampling points per
level (Deformable DETR paper Fig. 6)."""
import torch

from projects.visualization.attention.figures import draw_box, draw_marker, draw_weighted_points, panel_grid, show_image
from projects.visualization.attention.recorder import AttentionRecorder

LEVEL_COLORS = ("red", "orange", "yellow", "cyan", "magenta", "white")


class DeformableSamplingRecorder(AttentionRecorder):
    """A recorder with ``record_sampling`` (a hook storing records[name] = {"locations" [B, N, M, L, P, 2]
    (x, y) normalised over each level's map, "weights" [B, N, M, L, P] (softmax over L * P per head),
    "reference" [B, N, L, 2 | 4], "spatial_shapes" [L, 2] (H_l, W_l), "level_start_index" [L]}, computed by
    the module's own ``sampling_locations_and_weights`` from the inputs of its call; N = queries or
    tokens), ``token_at`` and ``sampling_figure``. Subclasses still implement ``register`` and ``figures``."""

    def record_sampling(self, attention, name):
        @torch.no_grad()
        def store(module, args, output):
            query, reference, _, shapes, starts = args[:5]
            locations, weights = module.sampling_locations_and_weights(query, reference, shapes)
            self.records[name] = {"locations": locations, "weights": weights, "reference": reference,
                                  "spatial_shapes": shapes, "level_start_index": starts}

        self.hooks.after(attention, store)

    def token_at(self, view, x, y, name="encoder"):
        """The finest level's token of records[name] whose cell contains original pixel (x, y)."""
        shapes = self.records[name]["spatial_shapes"].tolist()
        row, column = view.cell_of(x, y, tuple(shapes[0]))
        return int(self.records[name]["level_start_index"][0]) + row * shapes[0][1] + column

    def sampling_figure(self, view, record, index, title, box=None):
        """Panel 0: every level (colour = level); panel 1 + l: level l (colour = weight). Size = weight."""
        shapes = [tuple(s) for s in record["spatial_shapes"].tolist()]
        locations = record["locations"][0, index].cpu().numpy()  # [M, L, P, 2]
        weights = record["weights"][0, index].cpu().numpy()  # [M, L, P]
        reference = record["reference"][0, index, :, :2].cpu().numpy()  # [L, 2] (centre of a box reference)
        figure, axes = panel_grid(1, 1 + len(shapes), f"Deformable attention, {title}")
        show_image(axes[0, 0], view, "all levels")
        for level, hw in enumerate(shapes):
            points = view.level_points(locations[:, level].reshape(-1, 2), hw)
            level_weights = weights[:, level].reshape(-1)
            draw_weighted_points(axes[0, 0], points, level_weights, colors=[LEVEL_COLORS[level % 6]] * len(points),
                                 vmax=float(weights.max()))
            ax = axes[0, 1 + level]
            share = level_weights.sum() / weights.shape[0]  # each head's weights sum to 1 over levels and points
            show_image(ax, view, f"level {level} ({hw[0]}x{hw[1]}): {share:.0%} of the weight")
            draw_weighted_points(ax, points, level_weights, vmax=float(weights.max()))
            draw_marker(ax, view.level_points(reference[level], hw), color="lime", marker="+", size=80)
        for ax in axes[0]:
            if box is not None:
                draw_box(ax, view.box(box))
        return figure
