// Autograd of torch.ops.detr_family.ms_deform_attn, registered for the Autograd dispatch key:
// the forward redispatches to the device kernel, the backward calls the registered backward op
// (so torch.compile and torch.export trace both as single nodes).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

namespace detr_ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_forward(const at::Tensor& value, const at::Tensor& spatial_shapes,
                        const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
                        const at::Tensor& attention_weights) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("detr_family::ms_deform_attn", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&)>();
  return op.call(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_backward(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("detr_family::ms_deform_attn_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
              const at::Tensor&, const at::Tensor&)>();
  return op.call(grad_output, value, spatial_shapes, level_start_index, sampling_locations,
                 attention_weights);
}

}  // namespace

// Differentiable in value, sampling_locations and attention_weights; the integer layout
// tensors get no gradient. The backward is not itself differentiable (no double backward).
class MSDeformAttnFunction : public torch::autograd::Function<MSDeformAttnFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& value,
                            const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
                            const at::Tensor& sampling_locations,
                            const at::Tensor& attention_weights) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward(
        {value, spatial_shapes, level_start_index, sampling_locations, attention_weights});
    return call_forward(value, spatial_shapes, level_start_index, sampling_locations,
                        attention_weights);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    auto [grad_value, grad_locations, grad_weights] =
        call_backward(grad_outputs[0], saved[0], saved[1], saved[2], saved[3], saved[4]);
    return {grad_value, at::Tensor(), at::Tensor(), grad_locations, grad_weights};
  }
};

namespace {

at::Tensor forward_autograd(const at::Tensor& value, const at::Tensor& spatial_shapes,
                            const at::Tensor& level_start_index,
                            const at::Tensor& sampling_locations,
                            const at::Tensor& attention_weights) {
  return MSDeformAttnFunction::apply(value, spatial_shapes, level_start_index, sampling_locations,
                                     attention_weights);
}

}  // namespace
}  // namespace detr_ops

TORCH_LIBRARY_IMPL(detr_family, Autograd, m) {
  m.impl("ms_deform_attn", &detr_ops::forward_autograd);
  m.impl("ms_deform_attn_backward", torch::autograd::autogradNotImplementedFallback());
}
