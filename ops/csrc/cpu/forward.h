// Forward CPU kernel (include only from ms_deform_attn_cpu_kernels.h).
//
// A task is a block of kQueryBlock queries, walked head by head: the block's locations and
// weights stay in L1, and neighbouring queries of one head read neighbouring value rows. For one
// (n, q, m) row the taps of its L*P points are computed with vector arithmetic over the points,
// then each on-map corner adds its attention-weighted value row into partial sums held in vector
// registers (4 independent sums, so that the multiply-adds do not wait on each other).
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "cpu/channel_ops.h"
#include "cpu/kernel_inputs.h"
#include "cpu/point_taps.h"
#include "cpu/prefetch.h"
#include "ms_deform_attn_shape.h"

namespace detr_ops {
namespace CPU_CAPABILITY {
namespace {

// Queries per forward task, and how many rows ahead it prefetches locations and weights.
constexpr int64_t kQueryBlock = 16;
constexpr int64_t kPrefetchRows = 2;

// One row's sampling context: its points' taps and, per level, value[n, start_l, m, :].
template <typename scalar_t, typename acc_t>
struct Row {
  PointTaps<acc_t> taps;
  std::vector<const scalar_t*> levels;
  std::vector<acc_t> acc;  // the output row in the accumulation type (reduced dtypes)

  Row(const int64_t* shapes, const AttnShape& s) : taps(s.L * s.P), levels(s.L), acc(s.D) {
    for (int64_t i = 0; i < s.L * s.P; ++i) {
      taps.height[i] = static_cast<acc_t>(shapes[2 * (i / s.P)]);
      taps.width[i] = static_cast<acc_t>(shapes[2 * (i / s.P) + 1]);
    }
  }
};

// out[d, d + K*V) = sum over the row's points and on-map corners of aw[c] * value row. Corner c
// adds into sum c % U.
template <int K, typename scalar_t, typename acc_t>
void sample_block(const Row<scalar_t, acc_t>& row, const int64_t* shapes, const AttnShape& s,
                  int64_t d, acc_t* out) {
  using Vec = Vectorized<acc_t>;
  constexpr int64_t V = Vec::size();
  constexpr int U = K <= 2 ? 4 : 2;  // registers: U * K partial sums
  Vec acc[U][K];
  for (int u = 0; u < U; ++u) {
    for (int k = 0; k < K; ++k) {
      acc[u][k] = Vec(acc_t(0));
    }
  }
  const PointTaps<acc_t>& taps = row.taps;
  const int64_t token_stride = s.M * s.D;
  for (int64_t l = 0; l < s.L; ++l) {
    const int64_t H = shapes[2 * l], W = shapes[2 * l + 1];
    const scalar_t* level = row.levels[l] + d;
    for (int64_t i = l * s.P; i < (l + 1) * s.P; ++i) {
      if (taps.interior[i] != 0) {  // the common case: no corner to test
        const int64_t top_left =
            static_cast<int64_t>(taps.y0[i]) * W + static_cast<int64_t>(taps.x0[i]);
        const scalar_t* p00 = level + top_left * token_stride;
        const scalar_t* p10 = p00 + W * token_stride;
        add_row<K>(acc[0], taps.aw[0][i], p00);
        add_row<K>(acc[1 % U], taps.aw[1][i], p00 + token_stride);
        add_row<K>(acc[2 % U], taps.aw[2][i], p10);
        add_row<K>(acc[3 % U], taps.aw[3][i], p10 + token_stride);
        continue;
      }
      int64_t token[4];
      if (!corner_tokens(taps, i, H, W, token)) {
        continue;
      }
      for (int c = 0; c < 4; ++c) {
        if (token[c] >= 0) {
          add_row<K>(acc[c % U], taps.aw[c][i], level + token[c] * token_stride);
        }
      }
    }
  }
  for (int k = 0; k < K; ++k) {
    Vec sum = acc[0][k];
    for (int u = 1; u < U; ++u) {
      sum = sum + acc[u][k];
    }
    sum.store(out + d + k * V);
  }
}

// Channel d of the row (for the D % V channels after the whole vectors).
template <typename scalar_t, typename acc_t>
acc_t sample_channel(const Row<scalar_t, acc_t>& row, const int64_t* shapes, const AttnShape& s,
                     int64_t d) {
  const PointTaps<acc_t>& taps = row.taps;
  acc_t sum = 0;
  for (int64_t l = 0; l < s.L; ++l) {
    const int64_t H = shapes[2 * l], W = shapes[2 * l + 1];
    for (int64_t i = l * s.P; i < (l + 1) * s.P; ++i) {
      int64_t token[4];
      if (!corner_tokens(taps, i, H, W, token)) {
        continue;
      }
      for (int c = 0; c < 4; ++c) {
        if (token[c] >= 0) {
          sum += taps.aw[c][i] * static_cast<acc_t>(row.levels[l][token[c] * s.M * s.D + d]);
        }
      }
    }
  }
  return sum;
}

// out[D] = the output row (n, q, m), in the accumulation type.
template <typename scalar_t, typename coord_t, typename acc_t>
void sample_row(const Inputs<scalar_t, coord_t>& in, const AttnShape& s, int64_t n, int64_t m,
                int64_t row_index, Row<scalar_t, acc_t>& row, acc_t* out) {
  const int64_t points = s.L * s.P;
  load_points(row.taps, 0, in.loc + row_index * points * 2, in.attn + row_index * points, points);
  row.taps.template compute<false>(points);
  for (int64_t l = 0; l < s.L; ++l) {
    row.levels[l] = in.value + level_offset(s, in.starts, n, m, l);
  }
  constexpr int64_t V = Vectorized<acc_t>::size();
  int64_t d = 0;
  for (; d + 4 * V <= s.D; d += 4 * V) {
    sample_block<4>(row, in.shapes, s, d, out);
  }
  switch ((s.D - d) / V) {
    case 3: sample_block<3>(row, in.shapes, s, d, out); d += 3 * V; break;
    case 2: sample_block<2>(row, in.shapes, s, d, out); d += 2 * V; break;
    case 1: sample_block<1>(row, in.shapes, s, d, out); d += V; break;
    default: break;
  }
  for (; d < s.D; ++d) {
    out[d] = sample_channel(row, in.shapes, s, d);
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
  const int64_t points = s.L * s.P;
  const int64_t blocks_per_image = (s.Lq + kQueryBlock - 1) / kQueryBlock;
  const int64_t work_per_block = std::max<int64_t>(1, kQueryBlock * s.M * 4 * points * s.D);
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / work_per_block);
  at::parallel_for(0, s.N * blocks_per_image, grain, [&](int64_t begin, int64_t end) {
    Row<scalar_t, acc_t> row(in.shapes, s);
    for (int64_t block = begin; block < end; ++block) {
      const int64_t n = block / blocks_per_image;
      const int64_t q_begin = (block % blocks_per_image) * kQueryBlock;
      const int64_t q_end = std::min(s.Lq, q_begin + kQueryBlock);
      for (int64_t m = 0; m < s.M; ++m) {
        for (int64_t q = q_begin; q < q_end; ++q) {
          const int64_t row_index = (n * s.Lq + q) * s.M + m;
          if (q + kPrefetchRows < q_end) {
            const int64_t ahead = row_index + kPrefetchRows * s.M;
            prefetch(in.loc + ahead * points * 2, points * 2 * sizeof(coord_t));
            prefetch(in.attn + ahead * points, points * sizeof(coord_t));
          }
          scalar_t* out_row = out + row_index * s.D;
          if constexpr (std::is_same_v<scalar_t, acc_t>) {
            sample_row(in, s, n, m, row_index, row, out_row);
          } else {
            sample_row(in, s, n, m, row_index, row, row.acc.data());
            for (int64_t d = 0; d < s.D; ++d) {
              out_row[d] = static_cast<scalar_t>(row.acc[d]);
            }
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace detr_ops
