// Bilinear taps of a batch of sampling points, computed with at::vec::Vectorized over the points
// (include only from ms_deform_attn_cpu_kernels.h). The arithmetic is that of bilinear_taps() in
// ms_deform_attn_sampling.h, operation for operation (the CUDA kernel uses that one): pixel
// coordinate loc * size - 0.5 (product and difference each rounded), floor, fractions, weights.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <cstdint>
#include <type_traits>
#include <vector>

namespace detr_ops {
namespace CPU_CAPABILITY {
namespace {

// Structure of arrays over a batch of points, padded to whole vectors. Inputs: x, y (normalised
// location), a (attention weight), width, height (of the point's level). Outputs: x0, y0 (the
// top-left corner, -2 when no corner is on the map), interior (1 when all four corners are on the
// map, else 0), aw[c] = a * w[c] with w[c] the bilinear weight of corner (y0,x0), (y0,x1),
// (y1,x0), (y1,x1); and for the backward also hx = 1 - lx, lx, hy = 1 - ly, ly (fractions) and
// w[c]. Off-map points get zero fractions and weights.
template <typename acc_t>
struct PointTaps {
  static constexpr int64_t kWidth = at::vec::Vectorized<acc_t>::size();
  std::vector<acc_t> x, y, a, width, height;
  std::vector<acc_t> x0, y0, interior, hx, lx, hy, ly, w[4], aw[4];

  // Room for `points` points; padding points lie off a 1x1 map.
  explicit PointTaps(int64_t points) {
    const int64_t padded = (points + kWidth - 1) / kWidth * kWidth;
    for (auto* v : {&x, &y}) {
      v->assign(padded, acc_t(-10));
    }
    for (auto* v : {&width, &height}) {
      v->assign(padded, acc_t(1));
    }
    for (auto* v : {&a, &x0, &y0, &interior, &hx, &lx, &hy, &ly}) {
      v->assign(padded, acc_t(0));
    }
    for (int c = 0; c < 4; ++c) {
      w[c].assign(padded, acc_t(0));
      aw[c].assign(padded, acc_t(0));
    }
  }

  // Fills the outputs of points [0, count); the fractions and w[c] only with kBackward.
  template <bool kBackward>
  void compute(int64_t count) {
    using Vec = at::vec::Vectorized<acc_t>;
    const Vec zero(acc_t(0)), half(acc_t(0.5)), one(acc_t(1)), minus_one(acc_t(-1));
    const Vec off_map(acc_t(-2));
    for (int64_t i = 0; i < count; i += kWidth) {
      const Vec W = Vec::loadu(&width[i]), H = Vec::loadu(&height[i]);
      // Two roundings, no FMA (setup.py builds with -ffp-contract=off).
      const Vec px = Vec::loadu(&x[i]) * W - half;
      const Vec py = Vec::loadu(&y[i]) * H - half;
      const Vec fx = px.floor(), fy = py.floor();
      // NaN coordinates fail every comparison, so they are off the map.
      const Vec near = (fx >= minus_one) & (fx < W) & (fy >= minus_one) & (fy < H);
      const Vec inside = (fx >= zero) & (fx < W - one) & (fy >= zero) & (fy < H - one);
      const Vec frac_x = (px - fx) & near, frac_y = (py - fy) & near;
      const Vec high_x = (one - frac_x) & near, high_y = (one - frac_y) & near;
      Vec::blendv(off_map, fx, near).store(&x0[i]);
      Vec::blendv(off_map, fy, near).store(&y0[i]);
      (inside & one).store(&interior[i]);
      const Vec weights[4] = {high_y * high_x, high_y * frac_x, frac_y * high_x, frac_y * frac_x};
      const Vec attention = Vec::loadu(&a[i]);
      for (int c = 0; c < 4; ++c) {
        (attention * weights[c]).store(&aw[c][i]);
      }
      if constexpr (kBackward) {
        frac_x.store(&lx[i]);
        frac_y.store(&ly[i]);
        high_x.store(&hx[i]);
        high_y.store(&hy[i]);
        for (int c = 0; c < 4; ++c) {
          weights[c].store(&w[c][i]);
        }
      }
    }
  }
};

// Fills x, y and a of points [0, count) from interleaved (x, y) locations and weights.
template <typename coord_t, typename acc_t>
inline void load_points(PointTaps<acc_t>& taps, int64_t first, const coord_t* loc,
                        const coord_t* attn, int64_t count) {
  using Vec = at::vec::Vectorized<acc_t>;
  constexpr int64_t V = Vec::size();
  int64_t i = 0;
  if constexpr (std::is_same_v<coord_t, acc_t>) {
    for (; i + V <= count; i += V) {
      const auto xy = at::vec::deinterleave2(Vec::loadu(loc + 2 * i), Vec::loadu(loc + 2 * i + V));
      xy.first.store(&taps.x[first + i]);
      xy.second.store(&taps.y[first + i]);
      Vec::loadu(attn + i).store(&taps.a[first + i]);
    }
  }
  for (; i < count; ++i) {
    taps.x[first + i] = static_cast<acc_t>(loc[2 * i]);
    taps.y[first + i] = static_cast<acc_t>(loc[2 * i + 1]);
    taps.a[first + i] = static_cast<acc_t>(attn[i]);
  }
}

// Corner offsets of point i inside its level (in tokens, row-major), or -1 for corners off the
// map; returns false when the point has no corner on the map.
template <typename acc_t>
inline bool corner_tokens(const PointTaps<acc_t>& taps, int64_t i, int64_t H, int64_t W,
                          int64_t token[4]) {
  const int64_t x0 = static_cast<int64_t>(taps.x0[i]);
  const int64_t y0 = static_cast<int64_t>(taps.y0[i]);
  if (x0 == -2) {
    return false;
  }
  const bool x0_in = x0 >= 0, x1_in = x0 + 1 < W, y0_in = y0 >= 0, y1_in = y0 + 1 < H;
  const int64_t top_left = y0 * W + x0;
  token[0] = (y0_in && x0_in) ? top_left : -1;
  token[1] = (y0_in && x1_in) ? top_left + 1 : -1;
  token[2] = (y1_in && x0_in) ? top_left + W : -1;
  token[3] = (y1_in && x1_in) ? top_left + W + 1 : -1;
  return true;
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace detr_ops
