// The Python module ops._C. Importing it loads this library, whose static initialisers register
// the operator torch.ops.detr_family.ms_deform_attn (ms_deform_attn_op.cpp); the module itself
// only reports how it was built.
#include <torch/extension.h>

#include "ms_deform_attn.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("has_cuda_kernel", &detr_ops::has_cuda_kernel,
        "Whether this build contains the CUDA kernel");
  m.def("cpu_kernel_capability", &detr_ops::ms_deform_attn_cpu_capability,
        "The vector capability of the CPU kernel in use: DEFAULT, AVX2 or AVX512");
}
