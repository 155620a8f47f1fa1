"""fold_frozen_batchnorm: a Deformable DETR (R50, FrozenBN, calibrated non-trivial statistics) predicts
the same logits and boxes after its frozen batch norms are folded into the convolutions."""
import torch

from detectron2.layers import Conv2d, FrozenBatchNorm2d
from detectron2.modeling import build_model

from projects.benchmark.peers import batch_for, calibrate_frozen_bn, ours_outputs, perturb
from projects.deploy.fold_batchnorm import fold_frozen_batchnorm
from tests.harness.e2e_utils import tiny_cfg
from tests.harness.tolerances import OUT_ATOL, assert_close


def _calibrated_model():
    cfg = tiny_cfg("configs/deformable_detr/deformable_detr_r50_50ep.yaml")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    perturb(model)  # non-trivial BN weight/bias buffers are not parameters: set them too
    for norm in (m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)):
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_(0.0, 0.1)
    calibrate_frozen_bn(model, batch_for(model, [(96, 128)], seed=1))
    return model


def test_folded_model_predicts_what_the_unfolded_one_does():
    model = _calibrated_model()
    batch = batch_for(model, [(128, 160), (112, 144)], seed=2)
    with torch.no_grad():
        before = ours_outputs(model, batch)
        num_norms = sum(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
        folded = fold_frozen_batchnorm(model)
        after = ours_outputs(model, batch)
    assert folded == num_norms > 0
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert all(conv.bias is not None for conv in model.modules() if isinstance(conv, Conv2d))
    for key in ("pred_logits", "pred_boxes"):
        # float32 model outputs (the project's bound): folded convs round differently from conv + norm
        assert_close(after[key], before[key], atol=OUT_ATOL)


def test_folding_keeps_an_existing_conv_bias_and_a_second_call_folds_nothing():
    norm = FrozenBatchNorm2d(4)
    norm.weight.copy_(torch.tensor([0.5, 1.0, 2.0, -1.0]))
    norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    norm.running_mean.copy_(torch.tensor([1.0, 0.0, -1.0, 2.0]))
    norm.running_var.copy_(torch.tensor([4.0, 1.0, 0.25, 9.0]))
    conv = Conv2d(3, 4, kernel_size=3, padding=1, bias=True, norm=norm).eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float32)
    with torch.no_grad():
        expected = conv(x)
        assert fold_frozen_batchnorm(conv) == 1
        assert conv.norm is None
        # one float32 conv + affine against one folded conv: rounding only
        torch.testing.assert_close(conv(x), expected, atol=1e-5, rtol=1e-5)
    assert fold_frozen_batchnorm(conv) == 0


def test_eval_batchnorm_is_folded_and_a_training_one_is_not():
    norm = torch.nn.BatchNorm2d(4)
    norm.running_mean.copy_(torch.tensor([1.0, 0.0, -1.0, 2.0]))
    norm.running_var.copy_(torch.tensor([4.0, 1.0, 0.25, 9.0]))
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 1.0, 2.0, -1.0]))
        norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    conv = Conv2d(3, 4, kernel_size=3, padding=1, bias=False, norm=norm)
    assert fold_frozen_batchnorm(conv) == 0  # training mode: batch statistics, nothing to fold
    conv.eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float32)
    with torch.no_grad():
        expected = conv(x)
        assert fold_frozen_batchnorm(conv) == 1 and conv.norm is None
        # float32 conv + affine against one folded conv: rounding only
        torch.testing.assert_close(conv(x), expected, atol=1e-5, rtol=1e-5)
