"""DETR: decoder cross-attention per detection (DETR paper Fig. 6) and encoder self-attention of
chosen pixels, from the last layers' nn.MultiheadAttention weights."""
from projects.visualization.attention.figures import draw_box, draw_marker, overlay_map, panel_grid, show_image
from projects.visualization.attention.hooks import record_multihead_weights
from projects.visualization.attention.recorder import AttentionRecorder, detection_title


class DETRRecorder(AttentionRecorder):
    """records: "feature_hw" (H, W) of the transformer's input map; "decoder" [B, H, Q, S] and
    "encoder" [B, H, S, S] attention weights of the last layers (S = H * W, row-major)."""

    def register(self, model):
        transformer = model.transformer
        self.hooks.before(transformer, lambda module, args: self.records.update(feature_hw=tuple(args[0].shape[-2:])))
        record_multihead_weights(self.hooks, transformer.decoder.layers[-1].multihead_attn,
                                 lambda weights: self.records.update(decoder=weights))
        if self.pixels:
            record_multihead_weights(self.hooks, transformer.encoder.layers[-1].self_attn,
                                     lambda weights: self.records.update(encoder=weights))

    def figures(self, view, detections, metadata):
        figures = [("decoder_attention", self._decoder_figure(view, detections, metadata))]
        if self.pixels:
            figures.append(("encoder_attention", self._encoder_figure(view)))
        return figures

    def _maps(self, weights, row):
        """[H, S] weights of one query -> (head mean, per head) maps [H_f, W_f]."""
        maps = weights[:, row].reshape(weights.shape[0], *self.records["feature_hw"]).cpu().numpy()
        return maps.mean(0), maps

    def _decoder_figure(self, view, detections, metadata):
        weights = self.records["decoder"][0]
        figure, axes = panel_grid(len(detections), 1 + weights.shape[0], "DETR: last decoder layer cross-attention")
        extent = view.map_extent(self.records["feature_hw"])
        for row, detection in enumerate(detections):
            mean, heads = self._maps(weights, detection.query)
            for column, heat in enumerate([mean, *heads]):
                ax = axes[row, column]
                show_image(ax, view, detection_title(detection, metadata) if column == 0 else f"head {column - 1}")
                overlay_map(ax, view, heat, extent)
                draw_box(ax, view.box(detection.box))
        return figure

    def _encoder_figure(self, view):
        weights = self.records["encoder"][0]
        hw = self.records["feature_hw"]
        figure, axes = panel_grid(len(self.pixels), 1 + weights.shape[0], "DETR: last encoder layer self-attention")
        for row, (x, y) in enumerate(self.pixels):
            cell_row, cell_column = view.cell_of(x, y, hw)
            mean, heads = self._maps(weights, cell_row * hw[1] + cell_column)
            for column, heat in enumerate([mean, *heads]):
                ax = axes[row, column]
                show_image(ax, view, f"pixel ({x:.0f}, {y:.0f})" if column == 0 else f"head {column - 1}")
                overlay_map(ax, view, heat, view.map_extent(hw))
                draw_marker(ax, (x, y))
        return figure
