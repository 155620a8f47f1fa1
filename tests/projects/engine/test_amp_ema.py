"""Mixed-precision training (SOLVER.AMP, bfloat16 on CPU) and the weight EMA (MODEL_EMA)."""
import pytest
import torch
from torch import nn

from detectron2.engine.hooks import EvalHook
from detectron2.utils.events import EventStorage

from projects.engine.amp import DetrAMPTrainer, amp_dtype_from_config
from projects.checkpoint.checkpointer import DetrCheckpointer
from projects.engine.ema import ModelEMA, evaluate_with_ema, load_ema_for_eval
from projects.engine.trainer import Trainer
from tests.harness.e2e_utils import tiny_cfg

QUICKSTART = "configs/quickstart/{}_embedded.yaml"


def method_cfg(method, output_dir, extra=()):
    return tiny_cfg(QUICKSTART.format(method), output_dir, extra=extra)


def spy_on_criterion(criterion):
    """Record the prediction dtype the criterion receives, and the dtype / autocast state its losses see."""
    seen = {"received": [], "computed": []}
    get_loss = criterion.get_loss

    def recording_get_loss(loss, outputs, *args, **kwargs):
        seen["computed"].append((outputs["pred_logits"].dtype, outputs["pred_boxes"].dtype,
                                 torch.is_autocast_enabled("cpu")))
        return get_loss(loss, outputs, *args, **kwargs)

    criterion.get_loss = recording_get_loss
    criterion.register_forward_pre_hook(lambda module, args: seen["received"].append(args[0]["pred_logits"].dtype))
    return seen


@pytest.mark.parametrize("method", ["deformable_detr", "detr"])
def test_bf16_amp_steps_train_on_cpu_with_float32_losses(method, tmp_path):
    cfg = method_cfg(method, tmp_path, ["SOLVER.AMP.ENABLED", True])
    trainer = Trainer(cfg)
    step = trainer._trainer
    assert isinstance(step, DetrAMPTrainer) and step.precision == torch.bfloat16 and step.grad_scaler is None
    model = trainer.model_without_ddp
    seen = spy_on_criterion(model.criterion)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    totals = []
    with EventStorage(0) as storage:
        for iteration in range(2):
            storage.iter = step.iter = iteration
            step.run_step()
            totals.append(storage.history("total_loss").latest())
            storage.step()
    print(f"{method} bf16 AMP total_loss per step: {totals}")
    assert all(torch.isfinite(torch.tensor(totals)))
    assert seen["received"] and all(dtype == torch.bfloat16 for dtype in seen["received"])  # autocast was on
    assert seen["computed"] and all(c == (torch.float32, torch.float32, False) for c in seen["computed"])
    moved = [name for name, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[name])]
    assert len(moved) > 0.9 * sum(p.requires_grad for p in model.parameters())


def test_amp_dtype_config(tmp_path):
    cfg = method_cfg("detr", tmp_path)
    assert amp_dtype_from_config(cfg, "cpu") == torch.bfloat16
    assert amp_dtype_from_config(cfg, "cuda") == torch.float16
    cfg.SOLVER.AMP.DTYPE = "float16"
    with pytest.raises(ValueError, match="use 'bfloat16' for mixed precision on CPU"):
        amp_dtype_from_config(cfg, "cpu")
    cfg.SOLVER.AMP.DTYPE = "half"
    with pytest.raises(ValueError, match="SOLVER.AMP.DTYPE must be"):
        amp_dtype_from_config(cfg, "cuda")


def test_ema_follows_the_closed_form():
    model = nn.Linear(3, 2)
    start = model.weight.detach().clone()
    ema = ModelEMA(model, decay=0.9)
    targets = [torch.full_like(start, 1.0), torch.full_like(start, -2.0)]
    for target in targets:
        with torch.no_grad():
            model.weight.copy_(target)
        ema.update()
    # ema_2 = d^2 e_0 + d (1 - d) w_1 + (1 - d) w_2; float32 arithmetic on O(1) values: rounding only
    expected = 0.81 * start + 0.09 * targets[0] + 0.1 * targets[1]
    torch.testing.assert_close(ema.weights["weight"], expected, atol=1e-6, rtol=0)


def test_ema_moves_toward_the_weights():
    model = nn.Linear(4, 4)
    ema = ModelEMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    distances = []
    for _ in range(3):
        ema.update()
        distances.append((ema.weights["weight"] - model.weight).abs().max().item())
    # the distance halves each step (decay 0.5): 0.5, 0.25, 0.125 of the initial 1.0, float32 rounding only
    torch.testing.assert_close(torch.tensor(distances), torch.tensor([0.5, 0.25, 0.125]), atol=1e-6, rtol=0)


def test_ema_is_swapped_in_for_evaluation():
    model = nn.Linear(2, 2)
    ema = ModelEMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    own = model.weight.detach().clone()
    seen = []
    hook = EvalHook(0, lambda: seen.append(model.weight.detach().clone()))
    evaluate_with_ema([hook], ema)
    hook._func()
    # the evaluated weights are the average's, bit for bit (a copy), and the model's own come back
    torch.testing.assert_close(seen[0], ema.weights["weight"], atol=0, rtol=0)
    torch.testing.assert_close(model.weight.detach(), own, atol=0, rtol=0)
    assert not torch.equal(own, ema.weights["weight"])


def test_ema_is_checkpointed_and_restored_on_resume(tmp_path):
    extra = ["MODEL_EMA.ENABLED", True, "MODEL_EMA.DECAY", 0.5, "SOLVER.MAX_ITER", 2, "SOLVER.CHECKPOINT_PERIOD", 1,
             "TEST.EVAL_PERIOD", 0, "DATASETS.TEST", ()]
    cfg = method_cfg("detr", tmp_path, extra)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    saved = {name: value.clone() for name, value in trainer.model_ema.weights.items()}
    assert trainer.model_ema.updates == 2
    model_weights = trainer.model_without_ddp.state_dict()
    assert any(not torch.equal(saved[name], model_weights[name]) for name in saved if saved[name].is_floating_point())

    resumed = Trainer(method_cfg("detr", tmp_path, extra))
    resumed.resume_or_load(resume=True)
    assert resumed.model_ema.restored and resumed.model_ema.updates == 2
    for name, value in saved.items():  # a save/load round trip copies the bits
        torch.testing.assert_close(resumed.model_ema.weights[name], value, atol=0, rtol=0)

    # --eval-only with MODEL_EMA.USE_FOR_EVAL evaluates the averaged weights
    model = Trainer.build_model(cfg)
    checkpoint = DetrCheckpointer.from_config(cfg, model).resume_or_load(str(tmp_path / "model_final.pth"),
                                                                         resume=False)
    assert load_ema_for_eval(cfg, model, checkpoint)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[name], atol=0, rtol=0)  # copied bits


def test_amp_and_ema_resume_exactly(tmp_path):
    """A bf16 AMP run with EMA resumed from its first checkpoint ends where the uninterrupted run ends."""
    extra = ["SOLVER.AMP.ENABLED", True, "MODEL_EMA.ENABLED", True, "MODEL_EMA.DECAY", 0.5, "SOLVER.MAX_ITER", 2,
             "SOLVER.CHECKPOINT_PERIOD", 1, "TEST.EVAL_PERIOD", 0, "DATASETS.TEST", (), "SEED", 3]
    whole, resumed_dir = tmp_path / "whole", tmp_path / "resumed"
    trainer = Trainer(method_cfg("deformable_detr", whole, extra))
    trainer.resume_or_load(resume=False)
    trainer.train()
    resumed_dir.mkdir()
    (resumed_dir / "model_0000000.pth").write_bytes((whole / "model_0000000.pth").read_bytes())
    (resumed_dir / "last_checkpoint").write_text("model_0000000.pth")
    resumed = Trainer(method_cfg("deformable_detr", resumed_dir, extra))
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 1
    resumed.train()
    # same batches, dropout and arithmetic in the same process: the weights and averages agree bit for bit
    expected, found = trainer.model_without_ddp.state_dict(), resumed.model_without_ddp.state_dict()
    for name in expected:
        torch.testing.assert_close(found[name], expected[name], atol=0, rtol=0)
        torch.testing.assert_close(resumed.model_ema.weights[name], trainer.model_ema.weights[name], atol=0, rtol=0)
