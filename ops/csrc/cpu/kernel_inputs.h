// Raw views of the kernels' tensors (include only from ms_deform_attn_cpu_kernels.h).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "ms_deform_attn_shape.h"

namespace detr_ops {
namespace CPU_CAPABILITY {
namespace {

template <typename scalar_t, typename coord_t>
struct Inputs {
  const scalar_t* value;  // [N, S, M, D]
  const int64_t* shapes;  // [L, 2] (H, W)
  const int64_t* starts;  // [L]
  const coord_t* loc;     // [N, Lq, M, L, P, 2]
  const coord_t* attn;    // [N, Lq, M, L, P]
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

template <typename scalar_t, typename coord_t>
struct Grads {
  const scalar_t* grad_output;  // [N, Lq, M*D]
  coord_t* grad_loc;            // [N, Lq, M, L, P, 2]
  coord_t* grad_attn;           // [N, Lq, M, L, P]
};

// Offset of value[n, start_l, m, 0]: the first token of level l for head m.
inline int64_t level_offset(const AttnShape& s, const int64_t* starts, int64_t n, int64_t m,
                            int64_t l) {
  return ((n * s.S + starts[l]) * s.M + m) * s.D;
}

}  // namespace
}  // namespace CPU_CAPABILITY
}  // namespace detr_ops
