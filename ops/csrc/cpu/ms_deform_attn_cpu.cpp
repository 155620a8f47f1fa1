// CPU kernel of multi-scale deformable attention: forward and backward, parallel with
// at::parallel_for. Layouts and dtypes: see ms_deform_attn.h.
//
// Work unit: one (batch n, query q, head m) row, which reads L*P bilinear samples of D channels.
// The forward writes disjoint output rows. The backward writes disjoint location/weight gradients,
// but its value gradient is a scatter; it stays race-free by either
//   * giving each task a whole (n, m) slice of grad_value (when N*M tasks keep every thread busy,
//     or the problem is too small to share), or
//   * giving each of T chunks of rows a private grad_value buffer, summed afterwards.
#include "cpu/ms_deform_attn_cpu.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "ms_deform_attn_sampling.h"
#include "ms_deform_attn_shape.h"

namespace detr_ops {
namespace {

template <typename scalar_t, typename coord_t>
struct Inputs {
  const scalar_t* value;   // [N, S, M, D]
  const int64_t* shapes;   // [L, 2] (H, W)
  const int64_t* starts;   // [L]
  const coord_t* loc;      // [N, Lq, M, L, P, 2]
  const coord_t* attn;     // [N, Lq, M, L, P]
};

template <typename scalar_t, typename coord_t>
Inputs<scalar_t, coord_t> inputs_of(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                    const at::Tensor& level_start_index,
                                    const at::Tensor& sampling_locations,
                                    const at::Tensor& attention_weights) {
  return {value.const_data_ptr<scalar_t>(), spatial_shapes.const_data_ptr<int64_t>(),
          level_start_index.const_data_ptr<int64_t>(), sampling_locations.const_data_ptr<coord_t>(),
          attention_weights.const_data_ptr<coord_t>()};
}

// Offset of value[n, start_l, m, 0]: the first token of level l for head m.
inline int64_t level_offset(const AttnShape& s, const int64_t* starts, int64_t n, int64_t m,
                            int64_t l) {
  return ((n * s.S + starts[l]) * s.M + m) * s.D;
}

// Row index (n*Lq + q)*M + m of a work unit -> its batch and head.
inline void split_row(const AttnShape& s, int64_t row, int64_t& n, int64_t& m) {
  m = row % s.M;
  n = row / (s.Lq * s.M);
}

// acc[d] += w * values[d]
template <typename scalar_t, typename acc_t>
inline void add_scaled(acc_t* acc, const scalar_t* values, acc_t w, int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    acc[d] += w * static_cast<acc_t>(values[d]);
  }
}

// grad_values[d] += w * go[d]; returns sum_d go[d] * values[d]. Four partial sums let the
// compiler vectorise the reduction without -ffast-math.
template <typename scalar_t, typename acc_t>
inline acc_t dot_and_scatter(const acc_t* go, const scalar_t* values, acc_t* grad_values, acc_t w,
                             int64_t D) {
  acc_t part[4] = {0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 4 <= D; d += 4) {
    for (int k = 0; k < 4; ++k) {
      part[k] += go[d + k] * static_cast<acc_t>(values[d + k]);
      grad_values[d + k] += w * go[d + k];
    }
  }
  for (; d < D; ++d) {
    part[0] += go[d] * static_cast<acc_t>(values[d]);
    grad_values[d] += w * go[d];
  }
  return (part[0] + part[1]) + (part[2] + part[3]);
}

// out_row[D] = sum over levels and points of attn * bilinear sample of value (head m, batch n).
template <typename scalar_t, typename coord_t, typename acc_t>
void forward_row(const Inputs<scalar_t, coord_t>& in, const AttnShape& s, int64_t row, acc_t* acc,
                 scalar_t* out_row) {
  int64_t n, m;
  split_row(s, row, n, m);
  std::fill(acc, acc + s.D, acc_t(0));
  const int64_t token_stride = s.M * s.D;
  for (int64_t l = 0; l < s.L; ++l) {
    const int64_t H = in.shapes[2 * l], W = in.shapes[2 * l + 1];
    const scalar_t* level_value = in.value + level_offset(s, in.starts, n, m, l);
    for (int64_t p = 0; p < s.P; ++p) {
      const int64_t point = (row * s.L + l) * s.P + p;
      BilinearTaps<acc_t> taps;
      if (!bilinear_taps<acc_t>(static_cast<acc_t>(in.loc[2 * point]),
                                static_cast<acc_t>(in.loc[2 * point + 1]), H, W, taps)) {
        continue;
      }
      const acc_t a = static_cast<acc_t>(in.attn[point]);
      for (int c = 0; c < 4; ++c) {
        if (taps.token[c] >= 0) {
          add_scaled(acc, level_value + taps.token[c] * token_stride, a * taps.weight[c], s.D);
        }
      }
    }
  }
  for (int64_t d = 0; d < s.D; ++d) {
    out_row[d] = static_cast<scalar_t>(acc[d]);
  }
}

template <typename scalar_t, typename coord_t>
struct Grads {
  const scalar_t* grad_output;  // [N, Lq, M*D]
  coord_t* grad_loc;            // [N, Lq, M, L, P, 2]
  coord_t* grad_attn;           // [N, Lq, M, L, P]
};

// Backward of one work unit. Adds into grad_value ([N, S, M, D], accumulation type) and writes
// the location and weight gradients of the row's L*P points. go: scratch of D elements.
template <typename scalar_t, typename coord_t, typename acc_t>
void backward_row(const Inputs<scalar_t, coord_t>& in, const Grads<scalar_t, coord_t>& g,
                  const AttnShape& s, int64_t row, acc_t* go, acc_t* grad_value) {
  int64_t n, m;
  split_row(s, row, n, m);
  const scalar_t* go_row = g.grad_output + row * s.D;
  for (int64_t d = 0; d < s.D; ++d) {
    go[d] = static_cast<acc_t>(go_row[d]);
  }
  const int64_t token_stride = s.M * s.D;
  for (int64_t l = 0; l < s.L; ++l) {
    const int64_t H = in.shapes[2 * l], W = in.shapes[2 * l + 1];
    const int64_t offset = level_offset(s, in.starts, n, m, l);
    for (int64_t p = 0; p < s.P; ++p) {
      const int64_t point = (row * s.L + l) * s.P + p;
      BilinearTaps<acc_t> taps;
      if (!bilinear_taps<acc_t>(static_cast<acc_t>(in.loc[2 * point]),
                                static_cast<acc_t>(in.loc[2 * point + 1]), H, W, taps)) {
        continue;  // fully off the map: zero gradients (buffers start at zero)
      }
      const acc_t a = static_cast<acc_t>(in.attn[point]);
      acc_t corner_dot[4] = {0, 0, 0, 0};
      for (int c = 0; c < 4; ++c) {
        if (taps.token[c] >= 0) {
          const int64_t index = offset + taps.token[c] * token_stride;
          corner_dot[c] = dot_and_scatter(go, in.value + index, grad_value + index,
                                          a * taps.weight[c], s.D);
        }
      }
      const PointGradient<acc_t> grad = point_gradient(taps, corner_dot, a, H, W);
      g.grad_attn[point] = static_cast<coord_t>(grad.attention);
      g.grad_loc[2 * point] = static_cast<coord_t>(grad.loc_x);
      g.grad_loc[2 * point + 1] = static_cast<coord_t>(grad.loc_y);
    }
  }
}

template <typename scalar_t, typename coord_t>
void forward_impl(const at::Tensor& value, const at::Tensor& spatial_shapes,
                  const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                  const at::Tensor& attention_weights, at::Tensor& output) {
  using acc_t = at::opmath_type<scalar_t>;
  const AttnShape s = attn_shape(value, sampling_locations);
  const auto in = inputs_of<scalar_t, coord_t>(value, spatial_shapes, level_start_index,
                                               sampling_locations, attention_weights);
  scalar_t* out = output.mutable_data_ptr<scalar_t>();
  const int64_t rows = s.N * s.Lq * s.M;
  const int64_t work_per_row = std::max<int64_t>(1, 4 * s.L * s.P * s.D);
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / work_per_row);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(s.D);
    for (int64_t row = begin; row < end; ++row) {
      forward_row(in, s, row, acc.data(), out + row * s.D);
    }
  });
}

// Each task owns grad_value[n, :, m, :] for its (n, m) and walks all queries of that slice.
template <typename scalar_t, typename coord_t, typename acc_t>
void backward_by_head(const Inputs<scalar_t, coord_t>& in, const Grads<scalar_t, coord_t>& g,
                      const AttnShape& s, acc_t* grad_value) {
  const int64_t work_per_slice = std::max<int64_t>(1, s.Lq * s.L * s.P * s.D);
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / work_per_slice);
  at::parallel_for(0, s.N * s.M, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> go(s.D);
    for (int64_t nm = begin; nm < end; ++nm) {
      const int64_t n = nm / s.M, m = nm % s.M;
      for (int64_t q = 0; q < s.Lq; ++q) {
        backward_row(in, g, s, (n * s.Lq + q) * s.M + m, go.data(), grad_value);
      }
    }
  });
}

// Rows are cut into `chunks` contiguous ranges, each with its own grad_value buffer; returns their
// sum.
template <typename scalar_t, typename coord_t, typename acc_t>
at::Tensor backward_by_chunk(const Inputs<scalar_t, coord_t>& in,
                             const Grads<scalar_t, coord_t>& g, const AttnShape& s,
                             int64_t chunks, const at::TensorOptions& acc_options) {
  at::Tensor buffers = at::zeros({chunks, s.N, s.S, s.M, s.D}, acc_options);
  acc_t* base = buffers.mutable_data_ptr<acc_t>();
  const int64_t rows = s.N * s.Lq * s.M;
  const int64_t chunk_numel = s.N * s.S * s.M * s.D;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> go(s.D);
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t first = rows * chunk / chunks, last = rows * (chunk + 1) / chunks;
      for (int64_t row = first; row < last; ++row) {
        backward_row(in, g, s, row, go.data(), base + chunk * chunk_numel);
      }
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
  at::Tensor grad_loc = at::zeros_like(sampling_locations);
  at::Tensor grad_attn = at::zeros_like(attention_weights);
  const Grads<scalar_t, coord_t> g{grad_output.const_data_ptr<scalar_t>(),
                                   grad_loc.mutable_data_ptr<coord_t>(),
                                   grad_attn.mutable_data_ptr<coord_t>()};
  // float16/bfloat16 value gradients are accumulated in float32 and rounded once at the end.
  const auto acc_options = value.options().dtype(c10::CppTypeToScalarType<acc_t>::value);
  // Private buffers only pay off when there are idle threads and enough work to share.
  const int64_t threads = at::get_num_threads();
  const int64_t work = s.N * s.Lq * s.M * s.L * s.P * s.D;
  const bool chunked = s.N * s.M < threads && work >= at::internal::GRAIN_SIZE &&
                       !at::in_parallel_region();
  at::Tensor grad_value;
  if (chunked) {
    grad_value = backward_by_chunk<scalar_t, coord_t, acc_t>(in, g, s, threads, acc_options);
  } else {
    grad_value = at::zeros(value.sizes(), acc_options);
    backward_by_head(in, g, s, grad_value.mutable_data_ptr<acc_t>());
  }
  return {grad_value.to(value.scalar_type()), grad_loc, grad_attn};
}

}  // namespace

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index,
                                      const at::Tensor& sampling_locations,
                                      const at::Tensor& attention_weights) {
  const AttnShape s = attn_shape(value, sampling_locations);
  at::Tensor output = at::empty({s.N, s.Lq, s.M * s.D}, value.options());
  const bool same_type = sampling_locations.scalar_type() == value.scalar_type();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                  "ms_deform_attn_forward_cpu", [&] {
    if (same_type) {
      forward_impl<scalar_t, scalar_t>(value, spatial_shapes, level_start_index,
                                       sampling_locations, attention_weights, output);
    } else {
      forward_impl<scalar_t, float>(value, spatial_shapes, level_start_index, sampling_locations,
                                    attention_weights, output);
    }
  });
  return output;
}

std::vector<at::Tensor> ms_deform_attn_backward_cpu(const at::Tensor& value,
                                                    const at::Tensor& spatial_shapes,
                                                    const at::Tensor& level_start_index,
                                                    const at::Tensor& sampling_locations,
                                                    const at::Tensor& attention_weights,
                                                    const at::Tensor& grad_output) {
  const bool same_type = sampling_locations.scalar_type() == value.scalar_type();
  std::vector<at::Tensor> grads;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                  "ms_deform_attn_backward_cpu", [&] {
    if (same_type) {
      grads = backward_impl<scalar_t, scalar_t>(value, spatial_shapes, level_start_index,
                                                sampling_locations, attention_weights, grad_output);
    } else {
      grads = backward_impl<scalar_t, float>(value, spatial_shapes, level_start_index,
                                             sampling_locations, attention_weights, grad_output);
    }
  });
  return grads;
}

}  // namespace detr_ops
