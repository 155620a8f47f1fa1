// CUDA kernel of multi-scale deformable attention: forward and backward. Layouts and dtypes: see
// ms_deform_attn.h.
//
// Forward: one thread per output element (n, q, m, d); consecutive threads read consecutive
// channels of a value row. Backward: a group of G lanes (G a power of two <= 32, inside one
// warp) per sampling point (n, q, m, l, p); lanes stride over the D channels, scatter the value
// gradient with atomics, and reduce the four corner dot products with warp shuffles, after which
// lane 0 writes the point's location and weight gradients (each point owned by one group).
// float16/bfloat16 compute in float32 (at::opmath_type) and accumulate the value gradient in a
// float32 buffer, rounded once at the end. Each thread checks that the levels it reads lie inside
// value (a device-side assert: no host synchronisation); the backward raises under
// torch.use_deterministic_algorithms(True), since its atomics add in no fixed order.
// Includes avoid ATen/cuda/CUDAContext.h: it needs cuSPARSE/cuBLAS headers, which a minimal
// CUDA toolkit lacks.
#include "cuda/ms_deform_attn_cuda.h"

#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>

#include "ms_deform_attn_sampling.h"
#include "ms_deform_attn_shape.h"

namespace detr_ops {
namespace {

constexpr int kThreadsPerBlock = 256;  // a multiple of the warp size (groups never straddle warps)
constexpr unsigned kFullWarp = 0xffffffffu;

int64_t blocks_for(int64_t threads) {
  const int64_t blocks = (threads + kThreadsPerBlock - 1) / kThreadsPerBlock;
  TORCH_CHECK(blocks <= std::numeric_limits<int32_t>::max(), "ms_deform_attn: input too large");
  return blocks;
}

// Level l's tokens [start, start + H*W) must lie inside value's S tokens.
__device__ inline void assert_level_inside(const int64_t* starts, int64_t l, int64_t H, int64_t W,
                                           int64_t S) {
  CUDA_KERNEL_ASSERT_MSG(starts[l] >= 0 && H >= 0 && W >= 0 && starts[l] + H * W <= S,
                         "ms_deform_attn: level_start_index/spatial_shapes point outside value");
}

// Lanes per sampling point in the backward: D rounded up to a power of two, at most a warp.
int lanes_per_point(int64_t D) {
  int lanes = 1;
  while (lanes < D && lanes < 32) {
    lanes *= 2;
  }
  return lanes;
}

template <typename scalar_t, typename coord_t>
__global__ void forward_kernel(const scalar_t* __restrict__ value,
                               const int64_t* __restrict__ shapes,
                               const int64_t* __restrict__ starts,
                               const coord_t* __restrict__ loc,
                               const coord_t* __restrict__ attn,
                               scalar_t* __restrict__ output, AttnShape s) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= s.N * s.Lq * s.M * s.D) {
    return;
  }
  const int64_t d = index % s.D;
  const int64_t row = index / s.D;  // (n * Lq + q) * M + m
  const int64_t m = row % s.M;
  const int64_t n = row / (s.Lq * s.M);
  const int64_t token_stride = s.M * s.D;
  acc_t acc = 0;
  for (int64_t l = 0; l < s.L; ++l) {
    const int64_t H = shapes[2 * l], W = shapes[2 * l + 1];
    assert_level_inside(starts, l, H, W, s.S);
    const scalar_t* level_value = value + ((n * s.S + starts[l]) * s.M + m) * s.D + d;
    for (int64_t p = 0; p < s.P; ++p) {
      const int64_t point = (row * s.L + l) * s.P + p;
      BilinearTaps<acc_t> taps;
      if (!bilinear_taps<acc_t>(static_cast<acc_t>(loc[2 * point]),
                                static_cast<acc_t>(loc[2 * point + 1]), H, W, taps)) {
        continue;
      }
      const acc_t a = static_cast<acc_t>(attn[point]);
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        if (taps.token[c] >= 0) {
          acc += a * taps.weight[c] * static_cast<acc_t>(level_value[taps.token[c] * token_stride]);
        }
      }
    }
  }
  output[index] = static_cast<scalar_t>(acc);
}

// grad_value is [N, S, M, D] in the accumulation type. Every thread of a launched block must
// reach the shuffles, so inactive lanes (past the last point) only skip the memory work.
template <typename scalar_t, typename coord_t>
__global__ void backward_kernel(const scalar_t* __restrict__ value,
                                const int64_t* __restrict__ shapes,
                                const int64_t* __restrict__ starts,
                                const coord_t* __restrict__ loc,
                                const coord_t* __restrict__ attn,
                                const scalar_t* __restrict__ grad_output,
                                at::opmath_type<scalar_t>* __restrict__ grad_value,
                                coord_t* __restrict__ grad_loc,
                                coord_t* __restrict__ grad_attn, AttnShape s, int lanes) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int lane = static_cast<int>(threadIdx.x) % lanes;
  const int64_t point = thread / lanes;  // ((n * Lq + q) * M + m) * L * P + l * P + p
  const bool active = point < s.N * s.Lq * s.M * s.L * s.P;

  acc_t corner_dot[4] = {0, 0, 0, 0};
  BilinearTaps<acc_t> taps;
  bool on_map = false;
  acc_t a = 0;
  int64_t H = 0, W = 0;
  if (active) {
    const int64_t l = (point / s.P) % s.L;
    const int64_t row = point / (s.L * s.P);
    const int64_t m = row % s.M;
    const int64_t n = row / (s.Lq * s.M);
    H = shapes[2 * l];
    W = shapes[2 * l + 1];
    assert_level_inside(starts, l, H, W, s.S);
    a = static_cast<acc_t>(attn[point]);
    on_map = bilinear_taps<acc_t>(static_cast<acc_t>(loc[2 * point]),
                                  static_cast<acc_t>(loc[2 * point + 1]), H, W, taps);
    if (on_map) {
      const int64_t token_stride = s.M * s.D;
      const int64_t level_offset = ((n * s.S + starts[l]) * s.M + m) * s.D;
      const scalar_t* go = grad_output + row * s.D;
      for (int64_t d = lane; d < s.D; d += lanes) {
        const acc_t g = static_cast<acc_t>(go[d]);
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          if (taps.token[c] >= 0) {
            const int64_t index = level_offset + taps.token[c] * token_stride + d;
            corner_dot[c] += g * static_cast<acc_t>(value[index]);
            gpuAtomicAddNoReturn(grad_value + index, a * taps.weight[c] * g);
          }
        }
      }
    }
  }
  for (int offset = lanes / 2; offset > 0; offset /= 2) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      corner_dot[c] += __shfl_down_sync(kFullWarp, corner_dot[c], offset, lanes);
    }
  }
  if (active && lane == 0) {
    PointGradient<acc_t> grad{0, 0, 0};
    if (on_map) {
      grad = point_gradient(taps, corner_dot, a, H, W);
    }
    grad_attn[point] = static_cast<coord_t>(grad.attention);
    grad_loc[2 * point] = static_cast<coord_t>(grad.loc_x);
    grad_loc[2 * point + 1] = static_cast<coord_t>(grad.loc_y);
  }
}

template <typename scalar_t, typename coord_t>
void launch_forward(const at::Tensor& value, const at::Tensor& spatial_shapes,
                    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                    const at::Tensor& attention_weights, at::Tensor& output) {
  const AttnShape s = attn_shape(value, sampling_locations);
  const int64_t threads = s.N * s.Lq * s.M * s.D;
  if (threads == 0) {
    return;
  }
  forward_kernel<scalar_t, coord_t>
      <<<blocks_for(threads), kThreadsPerBlock, 0, c10::cuda::getCurrentCUDAStream()>>>(
          value.const_data_ptr<scalar_t>(), spatial_shapes.const_data_ptr<int64_t>(),
          level_start_index.const_data_ptr<int64_t>(), sampling_locations.const_data_ptr<coord_t>(),
          attention_weights.const_data_ptr<coord_t>(), output.mutable_data_ptr<scalar_t>(), s);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename scalar_t, typename coord_t>
std::vector<at::Tensor> launch_backward(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                        const at::Tensor& level_start_index,
                                        const at::Tensor& sampling_locations,
                                        const at::Tensor& attention_weights,
                                        const at::Tensor& grad_output) {
  using acc_t = at::opmath_type<scalar_t>;
  const AttnShape s = attn_shape(value, sampling_locations);
  at::Tensor grad_value =
      at::zeros(value.sizes(), value.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
  at::Tensor grad_loc = at::zeros_like(sampling_locations);
  at::Tensor grad_attn = at::zeros_like(attention_weights);
  const int lanes = lanes_per_point(s.D);
  const int64_t threads = s.N * s.Lq * s.M * s.L * s.P * lanes;
  if (threads > 0) {
    backward_kernel<scalar_t, coord_t>
        <<<blocks_for(threads), kThreadsPerBlock, 0, c10::cuda::getCurrentCUDAStream()>>>(
            value.const_data_ptr<scalar_t>(), spatial_shapes.const_data_ptr<int64_t>(),
            level_start_index.const_data_ptr<int64_t>(),
            sampling_locations.const_data_ptr<coord_t>(),
            attention_weights.const_data_ptr<coord_t>(), grad_output.const_data_ptr<scalar_t>(),
            grad_value.mutable_data_ptr<acc_t>(), grad_loc.mutable_data_ptr<coord_t>(),
            grad_attn.mutable_data_ptr<coord_t>(), s, lanes);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {grad_value.to(value.scalar_type()), grad_loc, grad_attn};
}

}  // namespace

at::Tensor ms_deform_attn_forward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                       const at::Tensor& level_start_index,
                                       const at::Tensor& sampling_locations,
                                       const at::Tensor& attention_weights) {
  const c10::cuda::CUDAGuard device_guard(value.device());
  const AttnShape s = attn_shape(value, sampling_locations);
  at::Tensor output = at::empty({s.N, s.Lq, s.M * s.D}, value.options());
  const bool same_type = sampling_locations.scalar_type() == value.scalar_type();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                  "ms_deform_attn_forward_cuda", [&] {
    if (same_type) {
      launch_forward<scalar_t, scalar_t>(value, spatial_shapes, level_start_index,
                                         sampling_locations, attention_weights, output);
    } else {
      launch_forward<scalar_t, float>(value, spatial_shapes, level_start_index,
                                      sampling_locations, attention_weights, output);
    }
  });
  return output;
}

std::vector<at::Tensor> ms_deform_attn_backward_cuda(const at::Tensor& value,
                                                     const at::Tensor& spatial_shapes,
                                                     const at::Tensor& level_start_index,
                                                     const at::Tensor& sampling_locations,
                                                     const at::Tensor& attention_weights,
                                                     const at::Tensor& grad_output) {
  // The value gradient is summed with atomics, in an order that varies from run to run.
  at::globalContext().alertNotDeterministic("ms_deform_attn_backward_cuda");
  const c10::cuda::CUDAGuard device_guard(value.device());
  const bool same_type = sampling_locations.scalar_type() == value.scalar_type();
  std::vector<at::Tensor> grads;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                  "ms_deform_attn_backward_cuda", [&] {
    if (same_type) {
      grads = launch_backward<scalar_t, scalar_t>(value, spatial_shapes, level_start_index,
                                                  sampling_locations, attention_weights,
                                                  grad_output);
    } else {
      grads = launch_backward<scalar_t, float>(value, spatial_shapes, level_start_index,
                                               sampling_locations, attention_weights, grad_output);
    }
  });
  return grads;
}

}  // namespace detr_ops
