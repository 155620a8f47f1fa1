// CPU entry points of multi-scale deformable attention: run the kernels built for the best
// vector capability this CPU and this build have (see cpu_kernels.h).
#include "cpu/ms_deform_attn_cpu.h"

#include <ATen/Version.h>

#include <string>

#include "cpu/cpu_kernels.h"

namespace detr_ops {
namespace {

// ATen's capability ("AVX512", "AVX2", "DEFAULT", ...; ATEN_CPU_CAPABILITY lowers it), read once.
const CpuKernels& kernels() {
  static const CpuKernels chosen = [] {
    const std::string capability = at::get_cpu_capability();
#ifdef DETR_OPS_CPU_AVX512
    if (capability == "AVX512") {
      return AVX512::cpu_kernels();
    }
#endif
#ifdef DETR_OPS_CPU_AVX2
    if (capability == "AVX512" || capability == "AVX2") {
      return AVX2::cpu_kernels();
    }
#endif
    return DEFAULT::cpu_kernels();
  }();
  return chosen;
}

}  // namespace

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index,
                                      const at::Tensor& sampling_locations,
                                      const at::Tensor& attention_weights) {
  return kernels().forward(value, spatial_shapes, level_start_index, sampling_locations,
                           attention_weights);
}

std::vector<at::Tensor> ms_deform_attn_backward_cpu(const at::Tensor& value,
                                                    const at::Tensor& spatial_shapes,
                                                    const at::Tensor& level_start_index,
                                                    const at::Tensor& sampling_locations,
                                                    const at::Tensor& attention_weights,
                                                    const at::Tensor& grad_output) {
  return kernels().backward(value, spatial_shapes, level_start_index, sampling_locations,
                            attention_weights, grad_output);
}

const char* ms_deform_attn_cpu_capability() { return kernels().capability; }

}  // namespace detr_ops
