"""DINO under bfloat16 autocast on CPU (SOLVER.AMP): the shared AMP check of tests/projects/engine/test_amp_ema.py
(the model runs in bfloat16, every loss, denoising and ``_interm`` included, in float32, the weights move)."""
from tests.projects.engine import test_amp_ema as amp_tests


def test_bf16_amp_steps_with_denoising(tmp_path):
    amp_tests.test_bf16_amp_steps_train_on_cpu_with_float32_losses("dino", tmp_path)
