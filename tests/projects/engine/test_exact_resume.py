"""After kill -9 (or Ctrl-C) and --resume, training continues exactly as an uninterrupted run of the
same seed (issue 10, item 4): same batches, augmentation and dropout, so the same final weights."""
import os
import signal
import time

import pytest
import torch

from tests.harness.train_runs import final_weights, run_train_net, start_train_net

MAX_ITER, PERIOD = 8, 3  # checkpoints after iterations 2 and 5, model_final after 7
# random resize, flip, the DETR crop branch and dropout: every source of randomness is exercised
OVERRIDES = ["SEED", 7, "SOLVER.MAX_ITER", MAX_ITER, "SOLVER.CHECKPOINT_PERIOD", PERIOD,
             "INPUT.MIN_SIZE_TRAIN", (64, 80, 96), "INPUT.MAX_SIZE_TRAIN", 128, "INPUT.DETR_CROP.ENABLED", True,
             "INPUT.DETR_CROP.PRE_RESIZE", (96, 128), "INPUT.DETR_CROP.SIZE", (64, 96), "MODEL.DETR.DROPOUT", 0.1]


def _interrupt_after_first_checkpoint(output_dir, overrides, sig, timeout=600):
    """Start a run and send it ``sig`` as soon as its first periodic checkpoint is written;
    returns once it has ended."""
    process = start_train_net(output_dir, overrides)
    deadline = time.time() + timeout
    try:
        while _last_checkpoint(output_dir) != "model_0000002.pth":
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.time() < deadline, "no checkpoint written in time"
            time.sleep(0.05)
        os.kill(process.pid, sig)
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    assert not (output_dir / "model_final.pth").exists()  # really interrupted


def _last_checkpoint(output_dir):
    path = output_dir / "last_checkpoint"
    return path.read_text() if path.exists() else ""


def _relative_l2(a, b):
    num = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in a)
    den = sum(float(b[k].double().pow(2).sum()) for k in b)
    return (num / den) ** 0.5


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    run_train_net(out, OVERRIDES + ["DATALOADER.NUM_WORKERS", 0])
    return final_weights(out)


@pytest.mark.parametrize("sig, num_workers", [(signal.SIGKILL, 0), (signal.SIGKILL, 1), (signal.SIGINT, 0)],
                         ids=["kill9-workers0", "kill9-workers1", "ctrl_c-workers0"])
def test_interrupt_and_resume_gives_the_uninterrupted_weights(tmp_path, uninterrupted, sig, num_workers):
    overrides = OVERRIDES + ["DATALOADER.NUM_WORKERS", num_workers]
    _interrupt_after_first_checkpoint(tmp_path, overrides, sig)
    if sig == signal.SIGINT:  # Ctrl-C: the run saved the step it was in and pointed last_checkpoint at it
        assert _last_checkpoint(tmp_path) == "model_interrupted.pth"
    checkpoint = torch.load(tmp_path / "model_0000002.pth", map_location="cpu", weights_only=True)["model"]
    run_train_net(tmp_path, overrides, flags=["--resume"])
    resumed = final_weights(tmp_path)
    assert set(resumed) == set(uninterrupted)
    print(f"\n{signal.Signals(sig).name} workers={num_workers}: relative L2 resumed vs uninterrupted "
          f"{_relative_l2(resumed, uninterrupted):.3e}, final vs checkpoint of iteration 2 "
          f"{_relative_l2(uninterrupted, checkpoint):.3e}")
    # the runs did the same computations on one thread: equal up to float noise
    for name, value in uninterrupted.items():
        torch.testing.assert_close(resumed[name], value, atol=1e-6, rtol=1e-5, msg=name)
    assert _relative_l2(uninterrupted, checkpoint) > 1e-4  # training moved the weights after the kill point
