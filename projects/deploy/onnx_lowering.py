"""ONNX lowering of ``torch.ops.detr_family.ms_deform_attn``: the grid-sample reference path
(``ops.ms_deform_attn_reference``) written with ONNX operators, for the dynamo ONNX exporter's
``custom_translation_table``. Level sizes and offsets are read from the op's tensor inputs inside
the graph, so the exported file keeps dynamic image sizes. Needs onnxscript (the ``deploy`` extra).
"""
from projects.deploy.requirements import require_deploy_extra

require_deploy_extra("onnxscript")

import torch  # noqa: E402
from onnxscript import opset18 as op  # noqa: E402

OPSET = 18

__all__ = ["OPSET", "TRANSLATIONS", "ms_deform_attn_onnx"]


def _dim(shape, index):
    """One dimension of a runtime shape vector, as a [1] int64 tensor."""
    return op.Slice(shape, op.Constant(value_ints=[index]), op.Constant(value_ints=[index + 1]))


def _level_value(value, spatial_shapes, level_start_index, level, value_shape):
    """value [N, S, M, D] -> level ``level`` as grid_sample input [N*M, D, H_l, W_l]."""
    begin, end = op.Constant(value_ints=[level]), op.Constant(value_ints=[level + 1])
    height_width = op.Reshape(op.Slice(spatial_shapes, begin, end), op.Constant(value_ints=[2]))  # [H_l, W_l]
    start = op.Slice(level_start_index, begin, end)
    stop = op.Add(start, op.ReduceProd(height_width, keepdims=1))
    tokens = op.Slice(value, start, stop, op.Constant(value_ints=[1]))  # [N, H_l*W_l, M, D]
    tokens = op.Transpose(tokens, perm=[0, 2, 3, 1])  # [N, M, D, H_l*W_l]
    shape = op.Concat(op.Constant(value_ints=[-1]), _dim(value_shape, 3), height_width, axis=0)
    return op.Reshape(tokens, shape)


def ms_deform_attn_onnx(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Same contract as the operator: value [N, S, M, D], spatial_shapes [L, 2], level_start_index [L],
    sampling_locations [N, Lq, M, L, P, 2], attention_weights [N, Lq, M, L, P] -> [N, Lq, M*D].

    Per level: GridSample (bilinear, zeros padding, align_corners=0 — the reference's semantics) of
    the level's value map at 2 * location - 1; then the attention-weighted sum over levels and points.
    """
    num_levels = sampling_locations.shape[3]  # static: the model's level count
    if not isinstance(num_levels, int):
        raise ValueError("ms_deform_attn ONNX lowering needs a static number of levels")
    value_shape = op.Shape(value)
    location_shape = op.Shape(sampling_locations)
    batch, queries = _dim(location_shape, 0), _dim(location_shape, 1)
    # [N, Lq, M, L, P, 2] -> [N*M, Lq, L, P, 2] in [-1, 1]
    grids = op.Transpose(op.Sub(op.Mul(sampling_locations, op.CastLike(2.0, sampling_locations)),
                                op.CastLike(1.0, sampling_locations)), perm=[0, 2, 1, 3, 4, 5])
    grids = op.Reshape(grids, op.Concat(op.Constant(value_ints=[-1]), op.Slice(
        location_shape, op.Constant(value_ints=[1]), op.Constant(value_ints=[6])), axis=0))
    grids = op.Reshape(grids, op.Concat(op.Constant(value_ints=[-1]), queries, op.Slice(
        location_shape, op.Constant(value_ints=[3]), op.Constant(value_ints=[6])), axis=0))
    samples = []
    for level in range(num_levels):
        level_value = _level_value(value, spatial_shapes, level_start_index, level, value_shape)
        level_grid = op.Gather(grids, op.Constant(value_int=level), axis=2)  # [N*M, Lq, P, 2]
        sampled = op.GridSample(level_value, level_grid, mode="bilinear", padding_mode="zeros", align_corners=0)
        samples.append(op.Unsqueeze(sampled, op.Constant(value_ints=[3])))  # [N*M, D, Lq, 1, P]
    samples = op.Concat(*samples, axis=3)  # [N*M, D, Lq, L, P]
    weights = op.Transpose(attention_weights, perm=[0, 2, 1, 3, 4])  # [N, M, Lq, L, P]
    weights = op.Unsqueeze(op.Reshape(weights, op.Concat(op.Constant(value_ints=[-1]), op.Slice(
        op.Shape(weights), op.Constant(value_ints=[2]), op.Constant(value_ints=[5])), axis=0)),
        op.Constant(value_ints=[1]))  # [N*M, 1, Lq, L, P]
    output = op.ReduceSum(op.Mul(samples, weights), op.Constant(value_ints=[3, 4]), keepdims=0)  # [N*M, D, Lq]
    output = op.Reshape(output, op.Concat(batch, op.Constant(value_ints=[-1]), queries, axis=0))  # [N, M*D, Lq]
    return op.Transpose(output, perm=[0, 2, 1])


TRANSLATIONS = {torch.ops.detr_family.ms_deform_attn.default: ms_deform_attn_onnx}
