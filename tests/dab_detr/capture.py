"""Our DAB models' intermediates under the official fixtures' names and layouts (dab_detr / dn_detr README).

``capture(model, run)`` installs forward hooks, calls ``run()`` (a forward of the fixture batch, eval or
training) and returns (what ``run`` returned, {fixture name: tensor}). Single-scale names are converted to the
official seq-first layout [Q or HW, B, C]; deformable names stay batch-first, as the official code has them.
"""
import torch
from torch.nn import functional as F

from dab_detr.anchors import refine_anchors

SEQ_FIRST = ("sine_embed_full", "query_pos", "query_scale.out", "ref_anchor_head.out", "hw_modulation",
             "query_sine_embed", "out")


def mha_weights_mean(module, query, key, attn_mask=None):
    """Head-averaged attention probabilities [B, Q, S] of an ``nn.MultiheadAttention`` (batch-first) on its
    inputs, computed without calling the module (so its hooks do not fire again)."""
    _, weights = F.multi_head_attention_forward(
        query.transpose(0, 1), key.transpose(0, 1), key.transpose(0, 1), module.embed_dim, module.num_heads,
        module.in_proj_weight, module.in_proj_bias, None, None, False, 0.0, module.out_proj.weight,
        module.out_proj.bias, training=False, need_weights=True, attn_mask=attn_mask, average_attn_weights=True)
    return weights


class Hooks:
    def __init__(self):
        self.handles, self.calls = [], {}

    def outputs(self, module, name):
        """Every output of ``module`` under ``name`` (a list, in call order)."""
        self.handles.append(module.register_forward_hook(
            lambda m, args, out: self.calls.setdefault(name, []).append(out)))

    def inputs(self, module, name, index=0):
        self.handles.append(module.register_forward_pre_hook(
            lambda m, args: self.calls.setdefault(name, []).append(args[index])))

    def custom(self, module, name, compute):
        self.handles.append(module.register_forward_hook(
            lambda m, args, kwargs, out: self.calls.setdefault(name, []).append(compute(m, args, kwargs)),
            with_kwargs=True))

    def remove(self):
        for handle in self.handles:
            handle.remove()


def capture(model, run):
    """(run(), intermediates) with the fixture's names; see the module docstring."""
    deformable = type(model).__name__ == "DABDeformableDETR"
    hooks = Hooks()
    (_deformable_hooks if deformable else _single_scale_hooks)(model, hooks)
    try:
        result = run()
    finally:
        hooks.remove()
    return result, (_deformable_names if deformable else _single_scale_names)(model, hooks.calls)


def _single_scale_hooks(model, hooks):
    encoder, decoder = model.transformer.encoder, model.transformer.decoder
    hooks.outputs(encoder.query_scale, "encoder.query_scale")
    hooks.outputs(encoder, "encoder.memory")
    hooks.outputs(decoder, "decoder")
    hooks.inputs(decoder.ref_point_head, "sine_embed_full")
    hooks.outputs(decoder.ref_point_head, "query_pos")
    hooks.outputs(decoder.query_scale, "query_scale.out")
    hooks.outputs(decoder.ref_anchor_head, "ref_anchor_head.out")
    for layer in decoder.layers:
        hooks.inputs(layer, "query_sine_embed", 5)
        hooks.outputs(layer, "out")
        hooks.custom(layer.self_attn, "self_attn.weights_mean_over_heads",
                     lambda m, args, kw: m.attention_probs(args[0], args[1], attn_mask=kw.get("attn_mask")).mean(1))
        hooks.custom(layer.cross_attn, "cross_attn.weights_mean_over_heads",
                     lambda m, args, kw: m.attention_probs(args[0], args[1], kw.get("key_padding_mask")).mean(1))


def _single_scale_names(model, calls):
    hs, anchors = calls["decoder"][0]
    names = {"encoder.layer0.query_scale.out": calls["encoder.query_scale"][0].transpose(0, 1),
             "encoder.memory": calls["encoder.memory"][0].transpose(0, 1),
             "decoder.anchors": torch.stack(anchors), "decoder.hs": hs}
    for index, layer_anchors in enumerate(anchors):
        ref_wh = calls["ref_anchor_head.out"][index].sigmoid()
        per_layer = {
            "sine_embed_full": calls["sine_embed_full"][index], "query_pos": calls["query_pos"][index],
            "ref_anchor_head.out": calls["ref_anchor_head.out"][index],
            "hw_modulation": torch.stack((ref_wh[..., 0] / layer_anchors[..., 2],
                                          ref_wh[..., 1] / layer_anchors[..., 3]), -1),
            "query_sine_embed": calls["query_sine_embed"][index], "out": calls["out"][index],
            "self_attn.weights_mean_over_heads": calls["self_attn.weights_mean_over_heads"][index],
            "cross_attn.weights_mean_over_heads": calls["cross_attn.weights_mean_over_heads"][index],
        }
        if index > 0:
            per_layer["query_scale.out"] = calls["query_scale.out"][index - 1]
        for name, value in per_layer.items():
            names[f"decoder.layer{index}.{name}"] = value.transpose(0, 1) if name in SEQ_FIRST else value
    return names


def _deformable_hooks(model, hooks):
    transformer = model.transformer
    decoder = transformer.decoder
    hooks.outputs(model.input_proj, "projected")
    hooks.outputs(transformer, "transformer")
    hooks.custom(transformer.encoder.layers[0].self_attn, "encoder.sampling", _sampling)
    hooks.outputs(decoder.ref_point_head, "ref_point_head.out")
    hooks.outputs(decoder.query_scale, "query_scale.out")
    for layer in decoder.layers:
        hooks.inputs(layer, "reference_points_input", 2)
        hooks.inputs(layer, "query_pos", 1)
        hooks.outputs(layer, "output")
        hooks.custom(layer.cross_attn, "cross_attn", _sampling)
        hooks.custom(layer.self_attn, "self_attn.weights_mean_over_heads",
                     lambda m, args, kw: mha_weights_mean(m, args[0], args[1], kw.get("attn_mask")))


def _sampling(module, args, kwargs):
    query, reference, _, shapes = args[:4]
    return module.sampling_locations_and_weights(query, reference, shapes)


def _deformable_names(model, calls):
    result = calls["transformer"][0]
    levels = result.levels
    extra_src, extra_mask = calls["projected"][0][3]
    locations, weights = calls["encoder.sampling"][0]
    names = {"extra_level.3.src": extra_src, "extra_level.3.mask": extra_mask,
             "extra_level.3.pos": model.position_embedding(extra_mask),
             "transformer.spatial_shapes": levels.spatial_shapes,
             "transformer.level_start_index": levels.level_start_index,
             "encoder.self_attn.sampling_locations": locations, "encoder.self_attn.attention_weights": weights,
             "encoder.memory": result.memory, "transformer.init_reference": result.references[0],
             # the anchors after each layer's refinement (the next layer's; the last one's are its boxes)
             "transformer.inter_references": torch.stack([
                 refine_anchors(head, hs, anchors) for head, hs, anchors in
                 zip(model.bbox_embed, result.hs, result.references)])}
    for index in range(len(result.references)):
        per_layer = {
            "reference_points_input": calls["reference_points_input"][index],
            "ref_point_head.out": calls["ref_point_head.out"][index], "query_pos": calls["query_pos"][index],
            "self_attn.weights_mean_over_heads": calls["self_attn.weights_mean_over_heads"][index],
            "cross_attn.sampling_locations": calls["cross_attn"][index][0],
            "cross_attn.attention_weights": calls["cross_attn"][index][1], "output": calls["output"][index]}
        if index > 0:
            per_layer["query_scale.out"] = calls["query_scale.out"][index - 1]
        names.update({f"decoder.layer{index}.{name}": value for name, value in per_layer.items()})
    return names
