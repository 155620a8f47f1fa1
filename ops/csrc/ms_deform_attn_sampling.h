// Bilinear taps of one sampling point, shared by the CPU and CUDA kernels.
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>
#include <cstdint>

namespace detr_ops {

C10_HOST_DEVICE inline float floor_value(float v) { return floorf(v); }
C10_HOST_DEVICE inline double floor_value(double v) { return floor(v); }

// The pixel coordinate loc * size - 0.5, rounded after the product and after the difference on
// every device. A fused multiply-add (nvcc fuses by default; gcc with -mfma may) rounds once and
// can land on the other side of an integer at exact pixel centres, where floor() then picks
// another cell for the location gradient. The host side relies on -ffp-contract=off (setup.py).
C10_HOST_DEVICE inline float pixel_coordinate(float loc, int64_t size) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(__fmul_rn(loc, static_cast<float>(size)), -0.5f);
#else
  return loc * static_cast<float>(size) - 0.5f;
#endif
}
C10_HOST_DEVICE inline double pixel_coordinate(double loc, int64_t size) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(__dmul_rn(loc, static_cast<double>(size)), -0.5);
#else
  return loc * static_cast<double>(size) - 0.5;
#endif
}

// The four corners of a bilinear sample, ordered (y0,x0), (y0,x1), (y1,x0), (y1,x1).
// token[c] is the corner's row-major index inside its level, or -1 when it lies off the map
// (it then reads zero, as grid_sample's padding_mode="zeros"). weight[c] is its bilinear weight.
template <typename acc_t>
struct BilinearTaps {
  int64_t token[4];
  acc_t weight[4];
  acc_t hx, lx, hy, ly;  // 1 - frac(x), frac(x), 1 - frac(y), frac(y)
};

// Fills `taps` for a normalised location (loc_x, loc_y) on an H x W map; returns false when all
// four corners are off the map (the sample and all its gradients are then zero).
// Official semantics (grid_sample, align_corners=False): pixel centre i sits at (i + 0.5) / size,
// so the pixel coordinate is loc * size - 0.5, and the corners are floor() and floor() + 1.
template <typename acc_t>
C10_HOST_DEVICE inline bool bilinear_taps(acc_t loc_x, acc_t loc_y, int64_t H, int64_t W,
                                          BilinearTaps<acc_t>& taps) {
  const acc_t x = pixel_coordinate(loc_x, W);
  const acc_t y = pixel_coordinate(loc_y, H);
  const acc_t x0f = floor_value(x);
  const acc_t y0f = floor_value(y);
  // Written so that NaN and huge coordinates fail the test before any integer conversion.
  const bool near_map = x0f >= static_cast<acc_t>(-1) && x0f < static_cast<acc_t>(W) &&
                        y0f >= static_cast<acc_t>(-1) && y0f < static_cast<acc_t>(H);
  if (!near_map) {
    return false;
  }
  const int64_t x0 = static_cast<int64_t>(x0f);
  const int64_t y0 = static_cast<int64_t>(y0f);
  taps.lx = x - x0f;
  taps.ly = y - y0f;
  taps.hx = static_cast<acc_t>(1) - taps.lx;
  taps.hy = static_cast<acc_t>(1) - taps.ly;
  const bool x0_in = x0 >= 0;
  const bool x1_in = x0 + 1 < W;
  const bool y0_in = y0 >= 0;
  const bool y1_in = y0 + 1 < H;
  taps.token[0] = (y0_in && x0_in) ? y0 * W + x0 : -1;
  taps.token[1] = (y0_in && x1_in) ? y0 * W + x0 + 1 : -1;
  taps.token[2] = (y1_in && x0_in) ? (y0 + 1) * W + x0 : -1;
  taps.token[3] = (y1_in && x1_in) ? (y0 + 1) * W + x0 + 1 : -1;
  taps.weight[0] = taps.hy * taps.hx;
  taps.weight[1] = taps.hy * taps.lx;
  taps.weight[2] = taps.ly * taps.hx;
  taps.weight[3] = taps.ly * taps.lx;
  return true;
}

// Gradient of one point given g[c] = <grad_output, value at corner c> (summed over channels).
// d(sample)/dx = hy (v01 - v00) + ly (v11 - v10); d(sample)/dy = hx (v10 - v00) + lx (v11 - v01);
// d(loc)/d(pixel) is the map size, and the attention weight scales both.
template <typename acc_t>
struct PointGradient {
  acc_t attention;
  acc_t loc_x;
  acc_t loc_y;
};

// H, W: the map size, as an integer or already in acc_t.
template <typename acc_t, typename size_type>
C10_HOST_DEVICE inline PointGradient<acc_t> point_gradient(const BilinearTaps<acc_t>& taps,
                                                           const acc_t g[4], acc_t attention,
                                                           size_type H, size_type W) {
  PointGradient<acc_t> out;
  out.attention = taps.weight[0] * g[0] + taps.weight[1] * g[1] + taps.weight[2] * g[2] +
                  taps.weight[3] * g[3];
  const acc_t dx = taps.hy * (g[1] - g[0]) + taps.ly * (g[3] - g[2]);
  const acc_t dy = taps.hx * (g[2] - g[0]) + taps.lx * (g[3] - g[1]);
  out.loc_x = attention * static_cast<acc_t>(W) * dx;
  out.loc_y = attention * static_cast<acc_t>(H) * dy;
  return out;
}

}  // namespace detr_ops
