"""DAB-DETR's attention figures: every decoder layer's anchor box (its refinement), and the last layer's
width/height-modulated cross-attention with its anchor and the reference size (w_ref, h_ref) it was
modulated by (paper Fig. 5-6); DAB-Deformable-DETR: the anchors and the last layer's sampling points."""
import torch

from projects.visualization.attention.deformable_sampling import DeformableSamplingRecorder
from projects.visualization.attention.figures import draw_box, overlay_map, panel_grid, show_image
from projects.visualization.attention.recorder import AttentionRecorder, detection_title

ANCHOR_COLORS = ("white", "cyan", "yellow", "orange", "magenta", "red")


def draw_anchors(ax, view, anchors, query):
    """Every layer's anchor box of ``query`` (outputs["anchors"]: L x [B, Q, 4] cxcywh), coloured by layer."""
    for layer, layer_anchors in enumerate(anchors):
        draw_box(ax, view.box(layer_anchors[0, query].cpu()), color=ANCHOR_COLORS[layer % len(ANCHOR_COLORS)])


def anchor_panel(ax, view, anchors, detection):
    # two short lines: a panel is about 45 characters wide at this font size
    show_image(ax, view, f"anchors of layers 0..{len(anchors) - 1}\n({', '.join(ANCHOR_COLORS[:len(anchors)])}), "
                         f"box (lime)")
    draw_anchors(ax, view, anchors, detection.query)
    draw_box(ax, view.box(detection.box))


class DABDETRRecorder(AttentionRecorder):
    """records: "feature_hw"; "ref_wh" [B, Q, 2] sigmoid(ref_anchor_head) of the last decoder layer (the
    modulation's reference width and height); "attention" [B, H, Q, S] the probabilities of that layer's
    cross-attention on the inputs it received (content + modulated positional query). The anchors every
    layer used are the model's outputs["anchors"]."""

    def register(self, model):
        self.hooks.before(model.transformer,
                          lambda module, args: self.records.update(feature_hw=tuple(args[0].shape[-2:])))
        decoder = model.transformer.decoder
        self.hooks.after(decoder.ref_anchor_head, lambda module, args, out: self.records.update(ref_wh=out.sigmoid()))
        self.hooks.before(decoder.layers[-1].cross_attn, self._store_probabilities, with_kwargs=True)

    @torch.no_grad()
    def _store_probabilities(self, attention, args, kwargs):
        self.records["attention"] = attention.attention_probs(args[0], args[1], kwargs.get("key_padding_mask"))

    def figures(self, view, detections, metadata):
        return [(f"det{index}", self._figure(view, detection, metadata)) for index, detection in enumerate(detections)]

    def _figure(self, view, detection, metadata):
        anchors = self.outputs["anchors"]
        anchor = anchors[-1][0, detection.query].cpu()
        w_ref, h_ref = (float(v) for v in self.records["ref_wh"][0, detection.query])
        hw = self.records["feature_hw"]
        heat = self.records["attention"][0, :, detection.query].mean(0).reshape(*hw).cpu().numpy()
        figure, axes = panel_grid(1, 2, f"DAB-DETR: {detection_title(detection, metadata)}")
        anchor_panel(axes[0, 0], view, anchors, detection)
        show_image(axes[0, 1], view, f"last layer, head mean; sharpened by\nw_ref/w = {w_ref / float(anchor[2]):.2f} (x), "
                                     f"h_ref/h = {h_ref / float(anchor[3]):.2f} (y)")
        overlay_map(axes[0, 1], view, heat, view.map_extent(hw))
        draw_box(axes[0, 1], view.box(anchor), color="white")
        draw_box(axes[0, 1], view.box(torch.tensor([anchor[0], anchor[1], w_ref, h_ref])), color="magenta")
        return figure


class DABDeformableDETRRecorder(DeformableSamplingRecorder):
    """records "decoder": the last decoder layer's sampling (see DeformableSamplingRecorder); the anchors
    every layer used are the model's outputs["anchors"] (the 4-d reference scales the sampling offsets)."""

    def register(self, model):
        self.record_sampling(model.transformer.decoder.layers[-1].cross_attn, "decoder")

    def figures(self, view, detections, metadata):
        figures = []
        for index, detection in enumerate(detections):
            title = f"last decoder layer: {detection_title(detection, metadata)}"
            figures.append((f"det{index}", self.sampling_figure(view, self.records["decoder"], detection.query,
                                                                title, detection.box)))
            figure, axes = panel_grid(1, 1, f"DAB-Deformable-DETR anchors: {detection_title(detection, metadata)}")
            anchor_panel(axes[0, 0], view, self.outputs["anchors"], detection)
            figures.append((f"det{index}_anchors", figure))
        return figures


__all__ = ["DABDETRRecorder", "DABDeformableDETRRecorder"]
