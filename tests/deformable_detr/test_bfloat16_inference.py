"""Deformable DETR inference on the CPU under torch.autocast(bfloat16): the deformable attention op
runs in bfloat16 (value in bfloat16, float32 accumulation), and the predictions stay close to the
float32 model's."""
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng

from tests.harness.e2e_utils import tiny_cfg
from tests.ops.inputs import max_error_ratio


class OpValueDtypes(TorchDispatchMode):
    """The value dtype of every deformable attention call, as the kernel receives it."""

    def __init__(self):
        super().__init__()
        self.dtypes = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.detr_family.ms_deform_attn.default:
            self.dtypes.append(args[0].dtype)
        return func(*args, **(kwargs or {}))


def _predictions(model, batched_inputs):
    """The raw predictions {pred_logits [B, Q, K], pred_boxes [B, Q, 4]} in float32."""
    images, pixel_mask = model.preprocess_image(batched_inputs)
    image_sizes = torch.as_tensor(images.image_sizes, dtype=torch.int64)
    outputs = model.predict(model.backbone(images.tensor, pixel_mask), image_sizes, pixel_mask)
    return {key: outputs[key].float() for key in ("pred_logits", "pred_boxes")}


def test_bfloat16_autocast_inference_is_close_to_float32():
    cfg = tiny_cfg("configs/quickstart/deformable_detr_embedded.yaml")
    seed_all_rng(0)
    model = build_model(cfg).eval()
    generator = torch.Generator().manual_seed(0)
    batched_inputs = [{"image": torch.randint(0, 256, (3, 128, 160), generator=generator, dtype=torch.uint8),
                       "height": 128, "width": 160},
                      {"image": torch.randint(0, 256, (3, 96, 128), generator=generator, dtype=torch.uint8),
                       "height": 96, "width": 128}]
    with torch.no_grad():
        single = _predictions(model, batched_inputs)
        with OpValueDtypes() as seen, torch.autocast("cpu", dtype=torch.bfloat16):
            reduced = _predictions(model, batched_inputs)
            detections = model(batched_inputs)
    assert seen.dtypes and set(seen.dtypes) == {torch.bfloat16}
    # bfloat16 keeps 8 significant bits (2^-8 relative); through the backbone, one encoder and two
    # decoder layers the rounding errors add up (measured: 0.3-0.4% of the logits' scale, 0.003 on
    # the boxes, over 3 seeds). Boxes are sigmoid outputs in [0, 1]: 0.01 is 1% of the image side.
    assert max_error_ratio(reduced["pred_logits"], single["pred_logits"]) < 0.02
    torch.testing.assert_close(reduced["pred_boxes"], single["pred_boxes"], rtol=0, atol=0.01)
    for result in detections:
        assert torch.isfinite(result["instances"].scores).all()
        assert torch.isfinite(result["instances"].pred_boxes.tensor).all()
