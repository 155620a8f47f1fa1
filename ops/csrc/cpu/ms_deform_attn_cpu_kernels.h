// CPU kernels of multi-scale deformable attention for the capability named by CPU_CAPABILITY
// (defined by the including ms_deform_attn_cpu_<capability>.cpp, see cpu_kernels.h): dtype
// dispatch over forward.h and backward.h. Layouts and dtypes: see ms_deform_attn.h.
//
// Both passes first compute the bilinear taps of a batch of points with vector arithmetic over
// the points (point_taps.h), then run the channel loops with vector arithmetic over channels
// (channel_ops.h), both through at::vec::Vectorized of this capability.
#pragma once

#ifndef CPU_CAPABILITY
#error "define CPU_CAPABILITY (DEFAULT, AVX2 or AVX512) before including this file"
#endif

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/macros/Macros.h>

#include <vector>

#include "cpu/backward.h"
#include "cpu/cpu_kernels.h"
#include "cpu/forward.h"
#include "ms_deform_attn_shape.h"

namespace detr_ops {
namespace CPU_CAPABILITY {
namespace {

at::Tensor forward(const at::Tensor& value, const at::Tensor& spatial_shapes,
                   const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
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

std::vector<at::Tensor> backward(const at::Tensor& value, const at::Tensor& spatial_shapes,
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

}  // namespace

CpuKernels cpu_kernels() { return {&forward, &backward, C10_STRINGIZE(CPU_CAPABILITY)}; }

}  // namespace CPU_CAPABILITY
}  // namespace detr_ops
