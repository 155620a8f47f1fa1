// Backward CPU kernel (include only from ms_deform_attn_cpu_kernels.h).
//
// The value gradient is a scatter; it stays race-free without private buffers by giving each
// task a slice of grad_value: the tokens of one level in one image, for a group of heads (a point
// only ever touches its own level's tokens of its own head). Heads are grouped as coarsely as the
// thread count allows (all heads at one thread). A task walks the queries in order and the
// slice's heads inside each query, so grad_output, locations and weights are read front to back,
// and each grad_value element receives its terms in query order whatever the thread count. Only
// when even one-head slices are fewer than the threads are the queries cut into chunks, each with
// a private grad_value buffer, summed afterwards.
// Per point and corner, one pass over the channels (unrolled for 1, 2 or 4 whole vectors)
// scatters into grad_value and accumulates the dot product with grad_output in vector lanes; the
// lanes of V/4 points' 4 corners (V vectors) are summed together (sum_lanes), which gives the
// location and weight gradients.
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "cpu/channel_ops.h"
#include "cpu/kernel_inputs.h"
#include "cpu/point_taps.h"
#include "cpu/prefetch.h"
#include "ms_deform_attn_sampling.h"
#include "ms_deform_attn_shape.h"

namespace detr_ops {
namespace CPU_CAPABILITY {
namespace {

// A backward task's share of grad_value: in image n, the tokens of levels [l_begin, l_end) for
// heads [m_begin, m_end) (the partition below uses single levels).
struct Slice {
  int64_t n, l_begin, l_end, m_begin, m_end;
};

// Points per batch of taps (whole queries; at least one query's points of the slice).
constexpr int64_t kBatchPoints = 64;

// Prefetches what the backward of `slice` reads for queries [q_begin, q_end): the output
// gradients, locations and weights.
template <typename scalar_t, typename coord_t>
void prefetch_queries(const Inputs<scalar_t, coord_t>& in, const Grads<scalar_t, coord_t>& g,
                      const AttnShape& s, const Slice& slice, int64_t q_begin, int64_t q_end) {
  const int64_t heads = slice.m_end - slice.m_begin, points = (slice.l_end - slice.l_begin) * s.P;
  for (int64_t q = q_begin; q < q_end; ++q) {
    const int64_t first_row = (slice.n * s.Lq + q) * s.M + slice.m_begin;
    prefetch(g.grad_output + first_row * s.D, heads * s.D * sizeof(scalar_t));
    for (int64_t row = first_row; row < first_row + heads; ++row) {
      const int64_t point = (row * s.L + slice.l_begin) * s.P;
      prefetch(in.loc + 2 * point, 2 * points * sizeof(coord_t));
      prefetch(in.attn + point, points * sizeof(coord_t));
    }
  }
}

// The corner tokens of tap i (see corner_tokens), quicker for interior points.
template <typename acc_t>
inline bool tap_corners(const PointTaps<acc_t>& taps, int64_t i, int64_t H, int64_t W,
                        int64_t token[4]) {
  if (taps.interior[i] == 0) {
    return corner_tokens(taps, i, H, W, token);
  }
  token[0] = static_cast<int64_t>(taps.y0[i]) * W + static_cast<int64_t>(taps.x0[i]);
  token[1] = token[0] + 1;
  token[2] = token[0] + W;
  token[3] = token[2] + 1;
  return true;
}

// The gradients of the P points of row (n, q, m) on level l, taps [first, first + P): scatters
// into grad_value around `level` (offset of value[n, start_l, m, 0]) and writes the points'
// location and weight gradients. go: grad_output row, widened.
template <int K, typename scalar_t, typename coord_t, typename acc_t>
void backward_row(const Inputs<scalar_t, coord_t>& in, const Grads<scalar_t, coord_t>& g,
                  const AttnShape& s, const PointTaps<acc_t>& taps, int64_t first, int64_t level,
                  int64_t H, int64_t W, int64_t first_point, const acc_t* go, acc_t* grad_value) {
  using Vec = Vectorized<acc_t>;
  constexpr int64_t V = Vec::size();
  static_assert(V >= 4, "sum_lanes needs a vector per corner of at least one point");
  constexpr int64_t kGroup = V / 4;  // points whose 4 corner sums fill the V lanes
  const int64_t token_stride = s.M * s.D;
  const acc_t height = static_cast<acc_t>(H), width = static_cast<acc_t>(W);
  Vec go_vectors[K > 0 ? K : 1];
  for (int k = 0; k < K; ++k) {
    go_vectors[k] = Vec::loadu(go + k * V);
  }
  for (int64_t p0 = 0; p0 < s.P; p0 += kGroup) {
    const int64_t group = std::min(kGroup, s.P - p0);
    Vec dots[V];  // corner c of point j: dots[4 * j + c] (zero where off the map)
    acc_t tails[V] = {}, sums[V];
    bool on_map[kGroup] = {};
    int64_t token[kGroup][4] = {};
    for (int64_t j = 0; j < kGroup; ++j) {
      const int64_t i = first + p0 + j;
      on_map[j] = j < group && tap_corners(taps, i, H, W, token[j]);
      for (int c = 0; c < 4; ++c) {
        if (!on_map[j] || token[j][c] < 0) {
          dots[4 * j + c] = Vec(acc_t(0));
          continue;
        }
        const int64_t index = level + token[j][c] * token_stride;
        dots[4 * j + c] = dot_and_scatter<K>(go, go_vectors, in.value + index, grad_value + index,
                                             taps.aw[c][i], s.D, tails[4 * j + c]);
      }
    }
    sum_lanes(dots, sums);
    for (int64_t j = 0; j < group; ++j) {
      const int64_t i = first + p0 + j, point = first_point + p0 + j;
      if (!on_map[j]) {  // fully off the map: zero gradients
        g.grad_attn[point] = coord_t(0);
        g.grad_loc[2 * point] = g.grad_loc[2 * point + 1] = coord_t(0);
        continue;
      }
      BilinearTaps<acc_t> corners;
      acc_t corner_dot[4];
      for (int c = 0; c < 4; ++c) {
        corner_dot[c] = token[j][c] >= 0 ? sums[4 * j + c] + tails[4 * j + c] : acc_t(0);
        corners.weight[c] = taps.w[c][i];
      }
      corners.hx = taps.hx[i];
      corners.lx = taps.lx[i];
      corners.hy = taps.hy[i];
      corners.ly = taps.ly[i];
      const PointGradient<acc_t> grad =
          point_gradient(corners, corner_dot, taps.a[i], height, width);
      g.grad_attn[point] = static_cast<coord_t>(grad.attention);
      g.grad_loc[2 * point] = static_cast<coord_t>(grad.loc_x);
      g.grad_loc[2 * point + 1] = static_cast<coord_t>(grad.loc_y);
    }
  }
}

// Backward of `slice` for queries [q_begin, q_end): adds into grad_value ([N, S, M, D],
// accumulation type) only inside the slice, and writes the location and weight gradients of the
// slice's points. Taps are computed a batch of queries at a time. go: scratch of D elements.
template <int K, typename scalar_t, typename coord_t, typename acc_t>
void backward_slice(const Inputs<scalar_t, coord_t>& in, const Grads<scalar_t, coord_t>& g,
                    const AttnShape& s, const Slice& slice, int64_t q_begin, int64_t q_end,
                    acc_t* go, acc_t* grad_value) {
  const int64_t heads = slice.m_end - slice.m_begin;
  const int64_t points = (slice.l_end - slice.l_begin) * s.P;  // per row
  const int64_t block = std::max<int64_t>(1, kBatchPoints / (heads * points));
  PointTaps<acc_t> taps(block * heads * points);
  for (int64_t i = 0; i < block * heads * points; ++i) {
    const int64_t l = slice.l_begin + (i % points) / s.P;
    taps.height[i] = static_cast<acc_t>(in.shapes[2 * l]);
    taps.width[i] = static_cast<acc_t>(in.shapes[2 * l + 1]);
  }
  for (int64_t q0 = q_begin; q0 < q_end; q0 += block) {
    const int64_t q1 = std::min(q_end, q0 + block);
    prefetch_queries(in, g, s, slice, q1, std::min(q_end, q1 + block));
    int64_t i = 0;
    for (int64_t q = q0; q < q1; ++q) {
      for (int64_t m = slice.m_begin; m < slice.m_end; ++m, i += points) {
        const int64_t first = (((slice.n * s.Lq + q) * s.M + m) * s.L + slice.l_begin) * s.P;
        load_points(taps, i, in.loc + 2 * first, in.attn + first, points);
      }
    }
    taps.template compute<true>(i);
    i = 0;
    for (int64_t q = q0; q < q1; ++q) {
      for (int64_t m = slice.m_begin; m < slice.m_end; ++m) {
        const int64_t row = (slice.n * s.Lq + q) * s.M + m;
        widen(g.grad_output + row * s.D, go, s.D);
        for (int64_t l = slice.l_begin; l < slice.l_end; ++l, i += s.P) {
          backward_row<K>(in, g, s, taps, i, level_offset(s, in.starts, slice.n, m, l),
                       in.shapes[2 * l], in.shapes[2 * l + 1], (row * s.L + l) * s.P, go,
                       grad_value);
        }
      }
    }
  }
}

// Head groups per (image, level) so that the N * L * groups slices keep `threads` threads busy.
inline int64_t head_groups_for(const AttnShape& s, int64_t threads) {
  const int64_t images_levels = std::max<int64_t>(1, s.N * s.L);
  return std::max<int64_t>(1, std::min(s.M, (threads + images_levels - 1) / images_levels));
}

// Slice k of N * L * groups: image, then level, then head group.
inline Slice slice_of(const AttnShape& s, int64_t groups, int64_t k) {
  const int64_t group = k % groups, l = (k / groups) % s.L, n = k / (groups * s.L);
  return {n, l, l + 1, s.M * group / groups, s.M * (group + 1) / groups};
}

// One task per slice of grad_value, each walking all queries.
template <typename scalar_t, typename coord_t, typename acc_t>
void backward_by_slice(const Inputs<scalar_t, coord_t>& in, const Grads<scalar_t, coord_t>& g,
                       const AttnShape& s, int64_t groups, acc_t* grad_value) {
  const int64_t slices = s.N * s.L * groups;
  const int64_t work_per_slice = std::max<int64_t>(1, s.Lq * s.M * s.L * s.P * s.D / slices);
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / work_per_slice);
  at::parallel_for(0, slices, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> go(s.D);
    with_channel_vectors<acc_t>(s.D, [&](auto vectors) {
      for (int64_t k = begin; k < end; ++k) {
        backward_slice<vectors()>(in, g, s, slice_of(s, groups, k), 0, s.Lq, go.data(), grad_value);
      }
    });
  });
}

// The queries are cut into `chunks` ranges, each with its own grad_value buffer; returns their sum.
template <typename scalar_t, typename coord_t, typename acc_t>
at::Tensor backward_by_chunk(const Inputs<scalar_t, coord_t>& in,
                             const Grads<scalar_t, coord_t>& g, const AttnShape& s,
                             int64_t chunks, const at::TensorOptions& acc_options) {
  at::Tensor buffers = at::zeros({chunks, s.N, s.S, s.M, s.D}, acc_options);
  acc_t* base = buffers.mutable_data_ptr<acc_t>();
  const int64_t chunk_numel = s.N * s.S * s.M * s.D;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> go(s.D);
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t first = s.Lq * chunk / chunks, last = s.Lq * (chunk + 1) / chunks;
      with_channel_vectors<acc_t>(s.D, [&](auto vectors) {
        for (int64_t k = 0; k < s.N * s.L; ++k) {
          backward_slice<vectors()>(in, g, s, slice_of(s, 1, k), first, last, go.data(),
                                    base + chunk * chunk_numel);
        }
      });
    }
  });
  return buffers.sum(0);
}

template <typename scalar_t, typename coord_t>
std::vector<at::Tensor> backward_impl(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index,
                                      const at::Tensor& sampling_locations,
                                      const at::Tensor& attention_weights,
                                      const at::Tensor& grad_output) {
  using acc_t = at::opmath_type<scalar_t>;
  const AttnShape s = attn_shape(value, sampling_locations);
  const auto in = inputs_of<scalar_t, coord_t>(value, spatial_shapes, level_start_index,
                                               sampling_locations, attention_weights);
  // Every point's location and weight gradients are written exactly once (zero when off the map).
  at::Tensor grad_loc = at::empty_like(sampling_locations);
  at::Tensor grad_attn = at::empty_like(attention_weights);
  const Grads<scalar_t, coord_t> g{grad_output.const_data_ptr<scalar_t>(),
                                   grad_loc.mutable_data_ptr<coord_t>(),
                                   grad_attn.mutable_data_ptr<coord_t>()};
  // float16/bfloat16 value gradients are accumulated in float32 and rounded once at the end.
  const auto acc_options = value.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
  const int64_t threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  const int64_t work = s.N * s.Lq * s.M * s.L * s.P * s.D;
  const bool chunked = s.N * s.L * s.M < threads && s.Lq >= threads &&
                       work >= at::internal::GRAIN_SIZE;
  at::Tensor grad_value;
  if (chunked) {
    grad_value = backward_by_chunk<scalar_t, coord_t, acc_t>(in, g, s, threads, acc_options);
  } else {
    grad_value = at::zeros(value.sizes(), acc_options);
    backward_by_slice(in, g, s, head_groups_for(s, threads), grad_value.mutable_data_ptr<acc_t>());
  }
  return {grad_value.to(value.scalar_type()), grad_loc, grad_attn};
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace detr_ops
