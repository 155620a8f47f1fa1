// CPU kernel of multi-scale deformable attention (declarations; see ms_deform_attn.h for layouts).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace detr_ops {

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index,
                                      const at::Tensor& sampling_locations,
                                      const at::Tensor& attention_weights);

// Returns {grad_value, grad_sampling_locations, grad_attention_weights}.
std::vector<at::Tensor> ms_deform_attn_backward_cpu(const at::Tensor& value,
                                                    const at::Tensor& spatial_shapes,
                                                    const at::Tensor& level_start_index,
                                                    const at::Tensor& sampling_locations,
                                                    const at::Tensor& attention_weights,
                                                    const at::Tensor& grad_output);

// The vector capability of the kernels in use: "DEFAULT", "AVX2" or "AVX512".
const char* ms_deform_attn_cpu_capability();

}  // namespace detr_ops
