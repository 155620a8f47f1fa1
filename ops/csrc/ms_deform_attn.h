// Multi-scale deformable attention: input checks shared by the CPU and CUDA registrations.
//
// Layouts (official Deformable DETR):
//   value               [N, S, M, D]         S = sum_l H_l * W_l, tokens level-major then row-major
//   spatial_shapes      [L, 2] int64 (H, W)  level_start_index [L] int64
//   sampling_locations  [N, Lq, M, L, P, 2]  normalised (x, y) in [0, 1] (outside reads zeros)
//   attention_weights   [N, Lq, M, L, P]
//   output              [N, Lq, M * D]       head-major channels
// Dtypes: value in {float16, bfloat16, float32, float64}; locations and weights share one dtype,
// either value's or float32 when value is float16/bfloat16. Arithmetic is in float32 for
// float16/bfloat16 and in the value's dtype otherwise.
#pragma once

#include <ATen/ATen.h>

#include <tuple>
#include <vector>

#include "cpu/ms_deform_attn_cpu.h"
#ifdef WITH_CUDA
#include "cuda/ms_deform_attn_cuda.h"
#endif

namespace detr_ops {

inline bool is_reduced_float(at::ScalarType t) {
  return t == at::kHalf || t == at::kBFloat16;
}

// Every level's tokens [start, start + H*W) must lie inside value's S tokens: the kernels index
// value without bounds checks. Reads the layout tensors, so only for CPU ones (the CUDA kernels
// check on the device, without a synchronisation).
inline void check_token_ranges(int64_t S, const at::Tensor& spatial_shapes,
                               const at::Tensor& level_start_index) {
  const auto shapes = spatial_shapes.contiguous();
  const auto starts = level_start_index.contiguous();
  const int64_t* hw = shapes.const_data_ptr<int64_t>();
  const int64_t* first = starts.const_data_ptr<int64_t>();
  for (int64_t l = 0; l < starts.numel(); ++l) {
    const int64_t H = hw[2 * l], W = hw[2 * l + 1];
    TORCH_CHECK(H >= 0 && W >= 0 && first[l] >= 0 && first[l] + H * W <= S,
                "ms_deform_attn: level ", l, " (", H, "x", W, " tokens from ", first[l],
                ") does not fit in value's ", S, " tokens");
  }
}

inline void check_inputs(const at::Tensor& value, const at::Tensor& spatial_shapes,
                         const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                         const at::Tensor& attention_weights) {
  TORCH_CHECK(value.dim() == 4, "value must be [N, S, M, D], got ", value.sizes());
  TORCH_CHECK(sampling_locations.dim() == 6 && sampling_locations.size(5) == 2,
              "sampling_locations must be [N, Lq, M, L, P, 2], got ", sampling_locations.sizes());
  const auto N = value.size(0), M = value.size(2);
  const auto Lq = sampling_locations.size(1), L = sampling_locations.size(3);
  const auto P = sampling_locations.size(4);
  TORCH_CHECK(sampling_locations.size(0) == N && sampling_locations.size(2) == M,
              "sampling_locations ", sampling_locations.sizes(), " do not match value ",
              value.sizes());
  TORCH_CHECK(attention_weights.sizes() == at::IntArrayRef({N, Lq, M, L, P}),
              "attention_weights must be [N, Lq, M, L, P] = ", at::IntArrayRef({N, Lq, M, L, P}),
              ", got ", attention_weights.sizes());
  TORCH_CHECK(spatial_shapes.dim() == 2 && spatial_shapes.size(0) == L &&
                  spatial_shapes.size(1) == 2,
              "spatial_shapes must be [L, 2] with L = ", L, ", got ", spatial_shapes.sizes());
  TORCH_CHECK(level_start_index.dim() == 1 && level_start_index.size(0) == L,
              "level_start_index must be [L] with L = ", L, ", got ", level_start_index.sizes());
  TORCH_CHECK(spatial_shapes.scalar_type() == at::kLong &&
                  level_start_index.scalar_type() == at::kLong,
              "spatial_shapes and level_start_index must be int64");
  const auto value_type = value.scalar_type();
  const auto coord_type = sampling_locations.scalar_type();
  TORCH_CHECK(value_type == at::kFloat || value_type == at::kDouble ||
                  is_reduced_float(value_type),
              "value must be float16, bfloat16, float32 or float64, got ", value_type);
  TORCH_CHECK(attention_weights.scalar_type() == coord_type,
              "sampling_locations and attention_weights must share a dtype");
  TORCH_CHECK(coord_type == value_type ||
                  (is_reduced_float(value_type) && coord_type == at::kFloat),
              "sampling_locations must have value's dtype (or float32 for a float16/bfloat16 "
              "value), got ", coord_type, " for ", value_type);
  for (const auto* t : {&spatial_shapes, &level_start_index, &sampling_locations,
                        &attention_weights}) {
    TORCH_CHECK(t->device() == value.device(), "all inputs must be on value's device ",
                value.device(), ", got ", t->device());
  }
  if (spatial_shapes.device().is_cpu()) {
    check_token_ranges(value.size(1), spatial_shapes, level_start_index);
  }
}

// Kernel signatures shared by the CPU and CUDA implementations (contiguous, checked inputs).
using ForwardKernel = at::Tensor (*)(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                     const at::Tensor&, const at::Tensor&);
using BackwardKernel = std::vector<at::Tensor> (*)(const at::Tensor&, const at::Tensor&,
                                                   const at::Tensor&, const at::Tensor&,
                                                   const at::Tensor&, const at::Tensor&);

// Checks the inputs and runs `kernel` on contiguous copies; returns output [N, Lq, M*D].
inline at::Tensor run_forward(ForwardKernel kernel, const at::Tensor& value,
                              const at::Tensor& spatial_shapes,
                              const at::Tensor& level_start_index,
                              const at::Tensor& sampling_locations,
                              const at::Tensor& attention_weights) {
  check_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
  return kernel(value.contiguous(), spatial_shapes.contiguous(), level_start_index.contiguous(),
                sampling_locations.contiguous(), attention_weights.contiguous());
}

// Checks the inputs and runs `kernel`; grad_output [N, Lq, M*D]. Returns (grad_value,
// grad_sampling_locations, grad_attention_weights) in the dtypes of their inputs.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor> run_backward(
    BackwardKernel kernel, const at::Tensor& grad_output, const at::Tensor& value,
    const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights) {
  check_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
  const auto N = value.size(0), Lq = sampling_locations.size(1);
  TORCH_CHECK(grad_output.sizes() == at::IntArrayRef({N, Lq, value.size(2) * value.size(3)}),
              "grad_output must be [N, Lq, M*D], got ", grad_output.sizes());
  TORCH_CHECK(grad_output.device() == value.device(), "grad_output must be on value's device");
  const auto grad_out = grad_output.to(value.scalar_type()).contiguous();  // kernels read value's type
  auto grads = kernel(value.contiguous(), spatial_shapes.contiguous(),
                      level_start_index.contiguous(), sampling_locations.contiguous(),
                      attention_weights.contiguous(), grad_out);
  return {grads[0], grads[1], grads[2]};
}

inline bool has_cuda_kernel() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace detr_ops
