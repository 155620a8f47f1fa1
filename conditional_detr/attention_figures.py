"""Conditional DETR: per head, the spatial attention of the conditional spatial query alone and the
combined (content + spatial) attention of the last decoder layer (paper Fig. 1 / Fig. 4)."""
import torch

from projects.layers.conditional_attention import concat_per_head
from projects.visualization.attention.figures import draw_box, draw_marker, overlay_map, panel_grid, show_image
from projects.visualization.attention.recorder import AttentionRecorder, detection_title


class ConditionalDETRRecorder(AttentionRecorder):
    """records: "feature_hw"; "combined" and "spatial" [B, H, Q, S] attention probabilities of the
    last decoder layer. Both come from that layer's own ``cross_attn.attention_probs`` on the inputs
    it received; "spatial" keeps only the spatial halves (conditional spatial query, key position)
    of the per-head [content ; spatial] queries and keys, at the same score scale."""

    def register(self, model):
        self.hooks.before(model.transformer,
                          lambda module, args: self.records.update(feature_hw=tuple(args[0].shape[-2:])))
        layer = model.transformer.decoder.layers[-1]
        self.hooks.after(layer.ca_qpos_sine_proj, lambda module, args, out: self.records.update(spatial_query=out))
        self.hooks.after(layer.ca_kpos_proj, lambda module, args, out: self.records.update(key_pos=out))
        self.hooks.before(layer.cross_attn, self._store_probabilities, with_kwargs=True)

    @torch.no_grad()
    def _store_probabilities(self, attention, args, kwargs):
        query, key = args[0], args[1]
        mask = kwargs.get("key_padding_mask", args[3] if len(args) > 3 else None)
        spatial_query, key_pos = self.records.pop("spatial_query"), self.records.pop("key_pos")
        heads = attention.num_heads
        spatial_q = concat_per_head(torch.zeros_like(spatial_query), spatial_query, heads)
        spatial_k = concat_per_head(torch.zeros_like(key_pos), key_pos, heads)
        self.records["combined"] = attention.attention_probs(query, key, mask)
        self.records["spatial"] = attention.attention_probs(spatial_q, spatial_k, mask)

    def figures(self, view, detections, metadata):
        return [(f"det{index}", self._detection_figure(view, detection, metadata))
                for index, detection in enumerate(detections)]

    def _detection_figure(self, view, detection, metadata):
        hw = self.records["feature_hw"]
        reference = self.outputs["reference_points"][0, detection.query].cpu()
        num_heads = self.records["combined"].shape[1]
        figure, axes = panel_grid(2, num_heads, f"Conditional DETR, last decoder layer: "
                                  f"{detection_title(detection, metadata)} (x: reference point)")
        for row, kind in enumerate(("spatial", "combined")):
            maps = self.records[kind][0, :, detection.query].reshape(num_heads, *hw).cpu().numpy()
            for head in range(num_heads):
                ax = axes[row, head]
                show_image(ax, view, f"{kind}, head {head}")
                overlay_map(ax, view, maps[head], view.map_extent(hw))
                draw_box(ax, view.box(detection.box))
                draw_marker(ax, view.point(reference))
        return figure
