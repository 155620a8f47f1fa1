"""DINO: the last decoder layer's sampling points of the selected queries (each detection's query, per
level, coloured and sized by weight, around its 4-d anchor), the anchors mixed query selection chose, and
the contrastive denoising groups the model trains with, built from the image's own detections."""
import numpy as np
import torch

from projects.visualization.attention.deformable_sampling import DeformableSamplingRecorder
from projects.visualization.attention.figures import draw_box, panel_grid, show_image
from projects.visualization.attention.recorder import detection_title

NUM_ANCHORS_SHOWN = 10
NUM_DENOISED_BOXES = 3  # detections used as the pseudo targets of the denoising figure
DENOISING_SEED = 0


class DINORecorder(DeformableSamplingRecorder):
    """records "decoder" (and with pixels "encoder"): the last layer's sampling (see
    ``DeformableSamplingRecorder``; N = the Q matching queries at inference); "proposal_index" [B, Q]:
    the encoder tokens selected as queries; "anchors" [B, Q, 4]: the decoder's initial (sigmoid) anchors;
    "denoising": the ``DenoisingQueries`` of the image's top detections as targets (fixed seed), with
    "denoising_targets" [n, 4] their boxes; "model": the model (its settings and label embedding)."""

    def register(self, model):
        transformer = model.transformer
        self.record_sampling(transformer.decoder.layers[-1].cross_attn, "decoder")
        if self.pixels:
            self.record_sampling(transformer.encoder.layers[-1].self_attn, "encoder")
        self.hooks.after(transformer, lambda module, args, out: self.records.update(
            proposal_index=out.proposal_index, anchors=out.references[0]))
        self.records["model"] = model

    def figures(self, view, detections, metadata):
        figures = [(f"det{number}", self.sampling_figure(
            view, self.records["decoder"], d.query, f"last decoder layer: {detection_title(d, metadata)}", d.box))
            for number, d in enumerate(detections)]
        for number, (x, y) in enumerate(self.pixels):
            figures.append((f"encoder_pixel{number}", self.sampling_figure(
                view, self.records["encoder"], self.token_at(view, x, y),
                f"last encoder layer: pixel ({x:.0f}, {y:.0f})")))
        figures.append(("anchors", self._anchor_figure(view)))
        if detections and self.records["model"].denoising.num_groups > 0:
            figures.append(("denoising", self._denoising_figure(view, detections)))
        return figures

    def _anchor_figure(self, view):
        """The first selected proposals (top-k order) as the decoder's initial anchors."""
        anchors = self.records["anchors"][0, :NUM_ANCHORS_SHOWN].cpu()
        # two short lines: a single panel is narrow
        figure, axes = panel_grid(1, 1, f"Mixed query selection:\nfirst {len(anchors)} anchors (red -> yellow)")
        show_image(axes[0, 0], view, "detached encoder proposals")
        for anchor, shade in zip(anchors, np.linspace(0, 1, len(anchors))):
            draw_box(axes[0, 0], view.box(anchor), color=(1.0, shade, 0.0))
        return figure

    @torch.no_grad()
    def denoising_groups(self, detections):
        """The CDN queries the model would train with if the top detections were the targets (fixed seed)."""
        model = self.records["model"]
        chosen = detections[:NUM_DENOISED_BOXES]
        targets = [{"labels": torch.tensor([d.label for d in chosen], device=model.device),
                    "boxes": torch.stack([d.box for d in chosen]).to(model.device)}]
        generator = torch.Generator(device=model.device).manual_seed(DENOISING_SEED)
        queries = model.denoising_queries_for(targets, generator)
        self.records.update(denoising=queries, denoising_targets=targets[0]["boxes"])
        return queries

    def _denoising_figure(self, view, detections):
        """Group 0's positive (green) and negative (red) noised boxes around their targets (white), and the
        self-attention mask of every query (black = blocked)."""
        queries = self.denoising_groups(detections)
        figure, axes = panel_grid(1, 2, f"Contrastive denoising (training only): {queries.num_groups} groups "
                                        f"of {queries.group_size} queries")
        show_image(axes[0, 0], view, "group 0: positive (green), negative (red)")
        for box in self.records["denoising_targets"].cpu():
            draw_box(axes[0, 0], view.box(box), color="white")
        in_group = queries.query_index < queries.group_size
        for box, positive in zip(queries.boxes[in_group].cpu(), queries.positive[in_group].tolist()):
            draw_box(axes[0, 0], view.box(box), color="lime" if positive else "red")
        axes[0, 1].imshow(queries.attn_mask.cpu().numpy(), cmap="gray_r", interpolation="nearest")
        # a frame: the mask's allowed (white) edges would otherwise merge with the figure's background
        axes[0, 1].set_axis_on()
        axes[0, 1].set_xticks([])
        axes[0, 1].set_yticks([])
        axes[0, 1].set_title(f"self-attention mask: {queries.pad_size} dn + {queries.num_queries} matching", fontsize=7)
        return figure
