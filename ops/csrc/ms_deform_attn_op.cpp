// The operator torch.ops.detr_family.ms_deform_attn and its backward: schemas and the CPU and
// CUDA kernels. Autograd is registered in ms_deform_attn_autograd.cpp, the fake (shape-only)
// kernels in ops/_fake.py, which the schema names so that torch imports it when tracing.
#include <torch/library.h>

#include "ms_deform_attn.h"

namespace detr_ops {
namespace {

at::Tensor forward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                       const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                       const at::Tensor& attention_weights) {
  return run_forward(&ms_deform_attn_forward_cpu, value, spatial_shapes, level_start_index,
                     sampling_locations, attention_weights);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights) {
  return run_backward(&ms_deform_attn_backward_cpu, grad_output, value, spatial_shapes,
                      level_start_index, sampling_locations, attention_weights);
}

#ifdef WITH_CUDA
at::Tensor forward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                        const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                        const at::Tensor& attention_weights) {
  return run_forward(&ms_deform_attn_forward_cuda, value, spatial_shapes, level_start_index,
                     sampling_locations, attention_weights);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights) {
  return run_backward(&ms_deform_attn_backward_cuda, grad_output, value, spatial_shapes,
                      level_start_index, sampling_locations, attention_weights);
}
#endif

}  // namespace
}  // namespace detr_ops

TORCH_LIBRARY(detr_family, m) {
  m.set_python_module("ops._fake");
  m.def(
      "ms_deform_attn(Tensor value, Tensor spatial_shapes, Tensor level_start_index, "
      "Tensor sampling_locations, Tensor attention_weights) -> Tensor");
  m.def(
      "ms_deform_attn_backward(Tensor grad_output, Tensor value, Tensor spatial_shapes, "
      "Tensor level_start_index, Tensor sampling_locations, Tensor attention_weights) "
      "-> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(detr_family, CPU, m) {
  m.impl("ms_deform_attn", &detr_ops::forward_cpu);
  m.impl("ms_deform_attn_backward", &detr_ops::backward_cpu);
}

#ifdef WITH_CUDA
TORCH_LIBRARY_IMPL(detr_family, CUDA, m) {
  m.impl("ms_deform_attn", &detr_ops::forward_cuda);
  m.impl("ms_deform_attn_backward", &detr_ops::backward_cuda);
}
#endif
