// The CPU kernels, compiled once per CPU capability (vector width): ms_deform_attn_cpu_default.cpp
// with the compiler's baseline flags, and, on x86-64, ms_deform_attn_cpu_avx2.cpp and
// ms_deform_attn_cpu_avx512.cpp with the matching -m flags (setup.py). ms_deform_attn_cpu.cpp
// picks one at run time from ATen's CPU capability (which honours ATEN_CPU_CAPABILITY).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace detr_ops {

struct CpuKernels {
  // Contiguous, checked inputs (see ms_deform_attn.h); returns output [N, Lq, M*D].
  at::Tensor (*forward)(const at::Tensor& value, const at::Tensor& spatial_shapes,
                        const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                        const at::Tensor& attention_weights);
  // Returns {grad_value, grad_sampling_locations, grad_attention_weights}.
  std::vector<at::Tensor> (*backward)(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index,
                                      const at::Tensor& sampling_locations,
                                      const at::Tensor& attention_weights,
                                      const at::Tensor& grad_output);
  const char* capability;  // "DEFAULT", "AVX2" or "AVX512"
};

namespace DEFAULT {
CpuKernels cpu_kernels();
}
#ifdef DETR_OPS_CPU_AVX2
namespace AVX2 {
CpuKernels cpu_kernels();
}
#endif
#ifdef DETR_OPS_CPU_AVX512
namespace AVX512 {
CpuKernels cpu_kernels();
}
#endif

}  // namespace detr_ops
