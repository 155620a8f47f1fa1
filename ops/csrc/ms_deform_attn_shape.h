// Sizes of one multi-scale deformable attention call, read from its tensors.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace detr_ops {

struct AttnShape {
  int64_t N;   // batch
  int64_t S;   // value tokens, sum of H_l * W_l over levels
  int64_t M;   // heads
  int64_t D;   // channels per head
  int64_t Lq;  // queries
  int64_t L;   // levels
  int64_t P;   // points per level and head
};

// value [N, S, M, D]; sampling_locations [N, Lq, M, L, P, 2].
inline AttnShape attn_shape(const at::Tensor& value, const at::Tensor& sampling_locations) {
  return AttnShape{value.size(0), value.size(1), value.size(2), value.size(3),
                   sampling_locations.size(1), sampling_locations.size(3),
                   sampling_locations.size(4)};
}

}  // namespace detr_ops
