"""Deformable DETR (every variant): the last decoder layer's sampling points per level, coloured and
sized by attention weight, with the reference point and the box (paper Fig. 6); optionally the last
encoder layer's sampling points for chosen pixels; two-stage: the encoder proposals it kept."""
import numpy as np

# the sampling records and figure moved to the core (shared with DINO); LEVEL_COLORS re-exported
from projects.visualization.attention.deformable_sampling import LEVEL_COLORS, DeformableSamplingRecorder  # noqa: F401
from projects.visualization.attention.figures import draw_box, panel_grid, show_image
from projects.visualization.attention.recorder import detection_title

NUM_PROPOSALS_SHOWN = 10


class DeformableDETRRecorder(DeformableSamplingRecorder):
    """records "decoder" (and with pixels "encoder"), from the last layer's MSDeformAttn:
    "locations" [B, N, M, L, P, 2] (x, y) normalised over each level's map and "weights"
    [B, N, M, L, P] (softmax over L * P per head): what the op received, computed by the module's own
    ``sampling_locations_and_weights`` from the inputs of its call; "reference" [B, N, L, 2 | 4];
    "spatial_shapes" [L, 2] (H_l, W_l); "level_start_index" [L]. N = queries (decoder) or tokens
    (encoder). "proposal_index" [B, Q] (two-stage): the encoder tokens selected as queries."""

    def register(self, model):
        transformer = model.transformer
        self.record_sampling(transformer.decoder.layers[-1].cross_attn, "decoder")
        if self.pixels:
            self.record_sampling(transformer.encoder.layers[-1].self_attn, "encoder")
        self.hooks.after(transformer, lambda module, args, out: self.records.update(proposal_index=out.proposal_index))

    def figures(self, view, detections, metadata):
        figures = [(f"det{number}", self.sampling_figure(
            view, self.records["decoder"], d.query, f"last decoder layer: {detection_title(d, metadata)}", d.box))
            for number, d in enumerate(detections)]
        for number, (x, y) in enumerate(self.pixels):
            token = self.token_at(view, x, y)
            figures.append((f"encoder_pixel{number}", self.sampling_figure(
                view, self.records["encoder"], token, f"last encoder layer: pixel ({x:.0f}, {y:.0f})")))
        if self.records.get("proposal_index") is not None:
            figures.append(("proposals", self._proposal_figure(view, metadata)))
        return figures

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
