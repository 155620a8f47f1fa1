"""SMCA: each head's Gaussian-like spatial prior (paper Eq. 5) and the spatially modulated
co-attention (Eq. 6) per decoder layer; multi-scale SMCA also its scale-selection weights (Eq. 7-9)."""
import torch
from torch import nn
from torch.nn import functional as F

from projects.layers.misc import split_heads
from projects.visualization.attention.figures import draw_box, draw_marker, overlay_map, panel_grid, show_image
from projects.visualization.attention.hooks import record_multihead_weights
from projects.visualization.attention.recorder import AttentionRecorder, detection_title


class SMCARecorder(AttentionRecorder):
    """records:
    "level_hw" [(H_l, W_l)], "strides" [s_l], "unit_stride": the prior's geometry (prior unit = one
        cell of stride unit_stride; cell j of level l sits at j * s_l / unit_stride);
    "priors": per decoder layer the prior the layer used (the transformer's own output): "centers"
        [B, Q, G, 2] prior units, "scales", "log_weights" per level [B, G, Q, S_l], "scale_weights"
        [B, Q, L] or None;
    "co_attention": per decoder layer, per level [B, H, Q, S_l]: softmax(q k^T / sqrt(d) + log G)
        (a softmax within each level; over all levels jointly when there is no scale selection).
    """

    def register(self, model):
        transformer = model.transformer
        self.records.update(unit_stride=transformer.decoder.unit_stride, co_attention={})
        self.hooks.before(transformer, self._store_geometry)
        self.hooks.after(transformer, lambda module, args, out: self.records.update(priors=out.priors))
        for index, layer in enumerate(transformer.decoder.layers):
            attention = layer.multihead_attn
            if isinstance(getattr(attention, "attn", None), nn.MultiheadAttention):  # single level
                record_multihead_weights(self.hooks, attention.attn,
                                         lambda w, index=index: self.records["co_attention"].update({index: [w]}))
            else:
                self._record_scale_selection(attention, index)

    def _store_geometry(self, module, args):
        srcs, strides = args[0], args[3]
        self.records.update(level_hw=[tuple(src.shape[-2:]) for src in srcs], strides=list(strides))

    def _record_scale_selection(self, attention, index):
        """ScaleSelectionAttention runs a fused kernel: keep its projected queries/keys and biases and
        ask the same kernel for the probabilities (identity values: probabilities @ I = probabilities)."""
        captured = {}
        self.hooks.before(attention,
                          lambda module, args: captured.update(biases=args[3], joint=args[4] is None, keys=[]))
        self.hooks.after(attention.q_proj, lambda module, args, out: captured.update(query=out))
        for projection in attention.k_projs:
            self.hooks.after(projection, lambda module, args, out: captured["keys"].append(out))
        self.hooks.after(attention, lambda module, args, out: self.records["co_attention"].update(
            {index: level_probabilities(captured, attention.nhead)}))

    def figures(self, view, detections, metadata):
        figures = []
        for number, detection in enumerate(detections):
            figures.append((f"det{number}_prior", self._prior_figure(view, detection, metadata)))
            figures.append((f"det{number}_co_attention", self._co_attention_figure(view, detection, metadata)))
        return figures

    def _center_pixels(self, centers, view):
        unit = self.records["unit_stride"]
        return float(centers[0]) * unit * view.scale_x, float(centers[1]) * unit * view.scale_y

    def _extent(self, view, level):
        stride = self.records["strides"][level]
        return view.map_extent(self.records["level_hw"][level], cell_offset=-0.5, stride=(stride, stride))

    def _prior_figure(self, view, detection, metadata):
        """Rows: decoder layers; columns: heads; exp(log G) on the finest level, x = the head's centre."""
        priors, hw, query = self.records["priors"], self.records["level_hw"][0], detection.query
        groups = priors[0]["centers"].shape[2]
        title = f"SMCA Gaussian prior (Eq. 5): {detection_title(detection, metadata)}"
        figure, axes = panel_grid(len(priors), groups, title)
        for row, prior in enumerate(priors):
            gaussians = prior["log_weights"][0][0, :, query].exp().reshape(groups, *hw).cpu().numpy()
            for head in range(groups):
                ax = axes[row, head]
                show_image(ax, view, f"layer {row}, head {head}")
                overlay_map(ax, view, gaussians[head], self._extent(view, 0))
                draw_marker(ax, self._center_pixels(prior["centers"][0, query, head], view))
                draw_box(ax, view.box(detection.box))
        return figure

    def _co_attention_figure(self, view, detection, metadata):
        """One level: rows = layers, columns = heads. Several: rows = layers, columns = levels (head mean)."""
        layers = [self.records["co_attention"][i] for i in range(len(self.records["priors"]))]
        multi = len(layers[0]) > 1
        columns = len(layers[0]) if multi else layers[0][0].shape[1]
        title = f"SMCA co-attention (Eq. 6): {detection_title(detection, metadata)}"
        figure, axes = panel_grid(len(layers), columns, title)
        for row, levels in enumerate(layers):
            alpha = self.records["priors"][row]["scale_weights"]
            for column in range(columns):
                level = column if multi else 0
                hw = self.records["level_hw"][level]
                weights = levels[level][0, :, detection.query].reshape(-1, *hw)
                heat = weights.mean(0) if multi else weights[column]
                title = f"layer {row}, head {column}"
                if multi:
                    title = f"layer {row}, stride {self.records['strides'][level]}"
                    if alpha is not None:
                        title += f", alpha {float(alpha[0, detection.query, level]):.2f}"
                ax = axes[row, column]
                show_image(ax, view, title)
                overlay_map(ax, view, heat.cpu().numpy(), self._extent(view, level))
                draw_box(ax, view.box(detection.box))
        return figure


@torch.no_grad()
def level_probabilities(captured, num_heads):
    """Per level [B, H, Q, S_l] attention probabilities from the captured projected query [B, Q, C],
    keys [[B, S_l, C]] and biases [[B, G, Q, S_l]], computed by the kernel the module uses."""
    query = split_heads(captured["query"], num_heads)
    keys = [split_heads(key, num_heads) for key in captured["keys"]]
    biases = captured["biases"]
    if captured["joint"]:
        sizes = [key.shape[2] for key in keys]
        batch, heads, queries, _ = query.shape
        bias = torch.cat([b.expand(batch, heads, queries, b.shape[-1]) for b in biases], dim=-1)
        return list(_probabilities(query, torch.cat(keys, dim=2), bias).split(sizes, dim=-1))
    return [_probabilities(query, key, bias) for key, bias in zip(keys, biases)]


def _probabilities(query, key, bias):
    """softmax(q k^T / sqrt(d) + bias) [B, H, Q, S], computed by scaled_dot_product_attention
    itself (the function the module calls) with identity values: probabilities @ I = probabilities."""
    batch, heads, length, _ = key.shape
    identity = torch.eye(length, dtype=query.dtype, device=query.device).expand(batch, heads, length, length)
    return F.scaled_dot_product_attention(query, key, identity, attn_mask=bias.to(query.dtype))
