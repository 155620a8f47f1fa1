// Python bindings of the compiled ops (module ops._C).
#include <torch/extension.h>

#include "ms_deform_attn.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("ms_deform_attn_forward", &detr_ops::ms_deform_attn_forward,
        "Multi-scale deformable attention forward: (value, spatial_shapes, level_start_index, "
        "sampling_locations, attention_weights) -> output [N, Lq, M*D]");
  m.def("ms_deform_attn_backward", &detr_ops::ms_deform_attn_backward,
        "Multi-scale deformable attention backward: (..., grad_output) -> [grad_value, "
        "grad_sampling_locations, grad_attention_weights]");
  m.def("has_cuda_kernel", &detr_ops::has_cuda_kernel,
        "Whether this build contains the CUDA kernel");
}
