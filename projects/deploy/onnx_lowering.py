"""ONNX lowerings of ``torch.ops.detr_family.ms_deform_attn`` in standard operators, for the dynamo
ONNX exporter's ``custom_translation_table`` (plain onnxruntime runs them; no custom domain).

* ``"gather"`` (the default): every sampling point's four bilinear corners (token indices and
  weights, zero outside the map) are computed once, one ``Gather`` reads those value rows from the
  flattened multi-level value tensor, and one batched ``MatMul`` makes the weighted sum: the work
  of the compiled kernel, which reads only the sampled pixels.
* ``"gridsample"``: the grid-sample reference path (``ops.ms_deform_attn_reference``), one
  ``GridSample`` per level over every head and point (kept for comparison, ``--lowering``).

Both read the level sizes and offsets from the op's tensor inputs inside the graph, so the
exported file keeps dynamic image sizes. Needs onnxscript (the ``deploy`` extra).
"""
from projects.deploy.requirements import require_deploy_extra

require_deploy_extra("onnxscript")

import torch  # noqa: E402
from onnxscript import opset18 as op  # noqa: E402

OPSET = 18
DEFAULT_LOWERING = "gather"

__all__ = ["DEFAULT_LOWERING", "LOWERINGS", "OPSET", "TRANSLATIONS", "ms_deform_attn_gather",
           "ms_deform_attn_gridsample", "translations"]


def _ints(*values):
    return op.Constant(value_ints=list(values))


def _dim(shape, index):
    """One dimension of a runtime shape vector, as a [1] int64 tensor."""
    return op.Slice(shape, _ints(index), _ints(index + 1))


def _level_column(spatial_shapes, column, like):
    """spatial_shapes [L, 2] -> column (0: H, 1: W) as [1, 1, 1, L, 1] in ``like``'s dtype."""
    sizes = op.Gather(spatial_shapes, op.Constant(value_int=column), axis=1)  # [L]
    return op.CastLike(op.Reshape(sizes, _ints(1, 1, 1, -1, 1)), like)


def _axis_taps(coordinate, size):
    """Bilinear taps along one axis (align_corners=False: pixel centre i sits at (i + 0.5) / size).

    coordinate [N, Lq, M, L, P] normalised, size [1, 1, 1, L, 1] -> (low pixel, fraction towards
    the high pixel, low on the map, high on the map), each [N, Lq, M, L, P]. The pixel coordinate is
    ``coordinate * size - 0.5``, rounded after each operation as the kernels compute it; NaN
    coordinates fail every comparison, so they are off the map, as in the kernels."""
    pixel = op.Sub(op.Mul(coordinate, size), op.CastLike(0.5, coordinate))
    low = op.Floor(pixel)
    zero, minus_one = op.CastLike(0.0, coordinate), op.CastLike(-1.0, coordinate)
    low_on = op.And(op.GreaterOrEqual(low, zero), op.Less(low, size))
    high_on = op.And(op.GreaterOrEqual(low, minus_one), op.Less(op.Sub(low, minus_one), size))
    return low, op.Sub(pixel, low), low_on, high_on


def _corners(x, y, width, height, attention, level_start):
    """The four bilinear corners of every point: (tokens [N, Lq, M, 4*L, P] float, token index in
    the image's multi-level value, 0 where off the map; weights [N, Lq, M, 4*L, P], attention times
    bilinear weight, 0 where off the map: grid_sample's zeros padding)."""
    x0, fx, x0_on, x1_on = _axis_taps(x, width)
    y0, fy, y0_on, y1_on = _axis_taps(y, height)
    one, zero = op.CastLike(1.0, x), op.CastLike(0.0, x)
    top, bottom = op.Mul(attention, op.Sub(one, fy)), op.Mul(attention, fy)
    left, right = op.Sub(one, fx), fx
    first = op.Add(op.Add(op.Mul(y0, width), x0), level_start)  # token of corner (y0, x0)
    below = op.Add(first, width)
    corners = ((first, op.Mul(top, left), op.And(y0_on, x0_on)),
               (op.Add(first, one), op.Mul(top, right), op.And(y0_on, x1_on)),
               (below, op.Mul(bottom, left), op.And(y1_on, x0_on)),
               (op.Add(below, one), op.Mul(bottom, right), op.And(y1_on, x1_on)))
    tokens = op.Concat(*(op.Where(on, token, zero) for token, _, on in corners), axis=3)
    weights = op.Concat(*(op.Where(on, weight, zero) for _, weight, on in corners), axis=3)
    return tokens, weights


def ms_deform_attn_gather(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Same contract as the operator: value [N, S, M, D], spatial_shapes [L, 2], level_start_index [L],
    sampling_locations [N, Lq, M, L, P, 2], attention_weights [N, Lq, M, L, P] -> [N, Lq, M*D].

    Value is laid out [N*M*S, D] (rows of one image and head together); corner (y, x) of a point
    on level l reads row ``(n * M + m) * S + start_l + y * W_l + x`` (token offsets are exact in
    float below 2**24 tokens per image), and one MatMul sums the rows with their weights."""
    x = op.Gather(sampling_locations, op.Constant(value_int=0), axis=5)  # [N, Lq, M, L, P]
    y = op.Gather(sampling_locations, op.Constant(value_int=1), axis=5)
    level_start = op.CastLike(op.Reshape(level_start_index, _ints(1, 1, 1, -1, 1)), x)
    tokens, weights = _corners(x, y, _level_column(spatial_shapes, 1, x), _level_column(spatial_shapes, 0, x),
                               attention_weights, level_start)
    value_shape, location_shape = op.Shape(value), op.Shape(sampling_locations)
    batch, num_tokens, heads, channels = (_dim(value_shape, i) for i in range(4))
    zero, one = op.Constant(value_int=0), op.Constant(value_int=1)
    image_heads = op.Mul(op.Squeeze(batch), op.Squeeze(heads))
    first_rows = op.Mul(op.Range(zero, image_heads, one), op.Squeeze(num_tokens))  # [N*M]: (n * M + m) * S
    first_rows = op.Reshape(first_rows, op.Concat(batch, _ints(1), heads, _ints(1, 1), axis=0))
    rows = op.Add(op.Cast(tokens, to=7), first_rows)  # int64 [N, Lq, M, 4*L, P]
    leading = op.Slice(location_shape, _ints(0), _ints(3))  # N, Lq, M
    rows = op.Reshape(rows, op.Concat(leading, _ints(-1), axis=0))
    table = op.Reshape(op.Transpose(value, perm=[0, 2, 1, 3]), op.Concat(_ints(-1), channels, axis=0))
    samples = op.Gather(table, rows, axis=0)  # [N, Lq, M, 4*L*P, D]
    output = op.MatMul(op.Reshape(weights, op.Concat(leading, _ints(1, -1), axis=0)), samples)  # [N, Lq, M, 1, D]
    return op.Reshape(output, op.Concat(op.Slice(location_shape, _ints(0), _ints(2)), _ints(-1), axis=0))


def _level_value(value, spatial_shapes, level_start_index, level, value_shape):
    """value [N, S, M, D] -> level ``level`` as grid_sample input [N*M, D, H_l, W_l]."""
    begin, end = _ints(level), _ints(level + 1)
    height_width = op.Reshape(op.Slice(spatial_shapes, begin, end), _ints(2))  # [H_l, W_l]
    start = op.Slice(level_start_index, begin, end)
    stop = op.Add(start, op.ReduceProd(height_width, keepdims=1))
    tokens = op.Slice(value, start, stop, _ints(1))  # [N, H_l*W_l, M, D]
    tokens = op.Transpose(tokens, perm=[0, 2, 3, 1])  # [N, M, D, H_l*W_l]
    shape = op.Concat(_ints(-1), _dim(value_shape, 3), height_width, axis=0)
    return op.Reshape(tokens, shape)


def ms_deform_attn_gridsample(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """The operator's contract (see ``ms_deform_attn_gather``), by the reference's path: per level,
    GridSample (bilinear, zeros padding, align_corners=0) of the level's value map at
    2 * location - 1; then the attention-weighted sum over levels and points."""
    num_levels = sampling_locations.shape[3]  # static: the model's level count
    if not isinstance(num_levels, int):
        raise ValueError("the gridsample lowering of ms_deform_attn needs a static number of levels")
    value_shape = op.Shape(value)
    location_shape = op.Shape(sampling_locations)
    batch, queries = _dim(location_shape, 0), _dim(location_shape, 1)
    # [N, Lq, M, L, P, 2] -> [N*M, Lq, L, P, 2] in [-1, 1]
    grids = op.Transpose(op.Sub(op.Mul(sampling_locations, op.CastLike(2.0, sampling_locations)),
                                op.CastLike(1.0, sampling_locations)), perm=[0, 2, 1, 3, 4, 5])
    grids = op.Reshape(grids, op.Concat(_ints(-1), op.Slice(location_shape, _ints(1), _ints(6)), axis=0))
    grids = op.Reshape(grids, op.Concat(_ints(-1), queries, op.Slice(location_shape, _ints(3), _ints(6)), axis=0))
    samples = []
    for level in range(num_levels):
        level_value = _level_value(value, spatial_shapes, level_start_index, level, value_shape)
        level_grid = op.Gather(grids, op.Constant(value_int=level), axis=2)  # [N*M, Lq, P, 2]
        sampled = op.GridSample(level_value, level_grid, mode="bilinear", padding_mode="zeros", align_corners=0)
        samples.append(op.Unsqueeze(sampled, _ints(3)))  # [N*M, D, Lq, 1, P]
    samples = op.Concat(*samples, axis=3)  # [N*M, D, Lq, L, P]
    weights = op.Transpose(attention_weights, perm=[0, 2, 1, 3, 4])  # [N, M, Lq, L, P]
    weights = op.Unsqueeze(op.Reshape(weights, op.Concat(_ints(-1), op.Slice(
        op.Shape(weights), _ints(2), _ints(5)), axis=0)), _ints(1))  # [N*M, 1, Lq, L, P]
    output = op.ReduceSum(op.Mul(samples, weights), _ints(3, 4), keepdims=0)  # [N*M, D, Lq]
    output = op.Reshape(output, op.Concat(batch, _ints(-1), queries, axis=0))  # [N, M*D, Lq]
    return op.Transpose(output, perm=[0, 2, 1])


LOWERINGS = {"gather": ms_deform_attn_gather, "gridsample": ms_deform_attn_gridsample}


def translations(lowering: str = DEFAULT_LOWERING):
    """The ``custom_translation_table`` that lowers the op with ``lowering`` (a key of LOWERINGS)."""
    if lowering not in LOWERINGS:
        raise ValueError(f"unknown ms_deform_attn ONNX lowering {lowering!r}; expected one of {sorted(LOWERINGS)}")
    return {torch.ops.detr_family.ms_deform_attn.default: LOWERINGS[lowering]}


TRANSLATIONS = translations()
