"""Deformable DETR (every variant): the last decoder layer's sampling points per level, coloured and
sized by attention weight, with the reference point and the box (paper Fig. 6); optionally the last
encoder layer's sampling points for chosen pixels; two-stage: the encoder proposals it kept."""
import numpy as np
import torch

from projects.visualization.attention.figures import draw_box, draw_marker, draw_weighted_points, panel_grid, show_image
from projects.visualization.attention.recorder import AttentionRecorder, detection_title

LEVEL_COLORS = ("red", "orange", "yellow", "cyan", "magenta", "white")
NUM_PROPOSALS_SHOWN = 10


class DeformableDETRRecorder(AttentionRecorder):
    """records "decoder" (and with pixels "encoder"), from the last layer's MSDeformAttn:
    "locations" [B, N, M, L, P, 2] (x, y) normalised over each level's map and "weights"
    [B, N, M, L, P] (softmax over L * P per head): what the op received, computed by the module's own
    ``sampling_locations_and_weights`` from the inputs of its call; "reference" [B, N, L, 2 | 4];
    "spatial_shapes" [L, 2] (H_l, W_l); "level_start_index" [L]. N = queries (decoder) or tokens
    (encoder). "proposal_index" [B, Q] (two-stage): the encoder tokens selected as queries."""

    def register(self, model):
        transformer = model.transformer
        self._record_sampling(transformer.decoder.layers[-1].cross_attn, "decoder")
        if self.pixels:
            self._record_sampling(transformer.encoder.layers[-1].self_attn, "encoder")
        self.hooks.after(transformer, lambda module, args, out: self.records.update(proposal_index=out.proposal_index))

    def _record_sampling(self, attention, name):
        @torch.no_grad()
        def store(module, args, output):
            query, reference, _, shapes, starts = args[:5]
            locations, weights = module.sampling_locations_and_weights(query, reference, shapes)
            self.records[name] = {"locations": locations, "weights": weights, "reference": reference,
                                  "spatial_shapes": shapes, "level_start_index": starts}

        self.hooks.after(attention, store)

    def figures(self, view, detections, metadata):
        figures = [(f"det{number}", self._sampling_figure(
            view, self.records["decoder"], d.query, f"last decoder layer: {detection_title(d, metadata)}", d.box))
            for number, d in enumerate(detections)]
        for number, (x, y) in enumerate(self.pixels):
            token = self._token_at(view, x, y)
            figures.append((f"encoder_pixel{number}", self._sampling_figure(
                view, self.records["encoder"], token, f"last encoder layer: pixel ({x:.0f}, {y:.0f})")))
        if self.records.get("proposal_index") is not None:
            figures.append(("proposals", self._proposal_figure(view, metadata)))
        return figures

    def _token_at(self, view, x, y):
        """The finest level's token whose cell contains original pixel (x, y)."""
        shapes = self.records["encoder"]["spatial_shapes"].tolist()
        row, column = view.cell_of(x, y, tuple(shapes[0]))
        return int(self.records["encoder"]["level_start_index"][0]) + row * shapes[0][1] + column

    def _sampling_figure(self, view, record, index, title, box=None):
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

    def _proposal_figure(self, view, metadata):
        """The first encoder proposals the two-stage model turned into queries (its top-k order)."""
        enc = self.outputs["enc_outputs"]
        chosen = self.records["proposal_index"][0, :NUM_PROPOSALS_SHOWN].tolist()
        scores = enc["pred_logits"][0, chosen].sigmoid().max(-1).values.tolist()
        figure, axes = panel_grid(1, 1, f"Two-stage: the first {len(chosen)} encoder proposals kept as queries")
        show_image(axes[0, 0], view)
        colors = np.linspace(0, 1, len(chosen))
        for token, score, shade in zip(chosen, scores, colors):
            x0, y0, _, _ = view.box(enc["pred_boxes"][0, token].cpu())
            draw_box(axes[0, 0], view.box(enc["pred_boxes"][0, token].cpu()), color=(1.0, shade, 0.0))
            axes[0, 0].text(x0, y0, f"{score:.2f}", fontsize=6, color="white", backgroundcolor="black")
        return figure
