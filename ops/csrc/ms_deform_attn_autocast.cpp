// Autocast of torch.ops.detr_family.ms_deform_attn (AutocastCPU, AutocastCUDA). Under
// torch.autocast the op runs like a matmul in the autocast dtype: value is cast to it
// (float16/bfloat16), the locations and weights to float32, and the kernel accumulates in float32
// and returns the autocast dtype. Inputs with a float64 tensor among them are left as they are,
// as autocast leaves float64 alone. The backward op needs no rule: autograd saved the cast inputs.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

namespace detr_ops {
namespace {

at::Tensor redispatch_forward(const at::Tensor& value, const at::Tensor& spatial_shapes,
                              const at::Tensor& level_start_index,
                              const at::Tensor& sampling_locations,
                              const at::Tensor& attention_weights) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("detr_family::ms_deform_attn", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&)>();
  return op.call(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
}

bool autocast_eligible(const at::Tensor& t) {
  return t.is_floating_point() && t.scalar_type() != at::kDouble;
}

template <c10::DeviceType kDevice, c10::DispatchKey kKey>
at::Tensor forward_autocast(const at::Tensor& value, const at::Tensor& spatial_shapes,
                            const at::Tensor& level_start_index,
                            const at::Tensor& sampling_locations,
                            const at::Tensor& attention_weights) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  if (!(autocast_eligible(value) && autocast_eligible(sampling_locations) &&
        autocast_eligible(attention_weights))) {
    return redispatch_forward(value, spatial_shapes, level_start_index, sampling_locations,
                              attention_weights);
  }
  const auto reduced = at::autocast::get_autocast_dtype(kDevice);
  return redispatch_forward(value.to(reduced), spatial_shapes, level_start_index,
                            sampling_locations.to(at::kFloat), attention_weights.to(at::kFloat));
}

}  // namespace
}  // namespace detr_ops

TORCH_LIBRARY_IMPL(detr_family, AutocastCPU, m) {
  m.impl("ms_deform_attn",
         &detr_ops::forward_autocast<c10::DeviceType::CPU, c10::DispatchKey::AutocastCPU>);
}

TORCH_LIBRARY_IMPL(detr_family, AutocastCUDA, m) {
  m.impl("ms_deform_attn",
         &detr_ops::forward_autocast<c10::DeviceType::CUDA, c10::DispatchKey::AutocastCUDA>);
}
