"""``train_net.py --num-gpus 2`` trains on a CPU-only machine (gloo), and 2 processes with half the
batch each compute the same losses as 1 process with the whole batch (issue 10, item 7)."""
import json

import pytest
import torch

from tests.harness.train_runs import final_weights, run_train_net

# Every image is cropped to 64 x 64 (no padding, so batching cannot change what the model sees);
# FrozenBN and no dropout: nothing in the model depends on how the batch is split. No-object
# weight 1: the official class loss is a weighted mean per process, which equals the weighted
# mean over the whole batch only when every process holds the same total weight.
OVERRIDES = ["MODEL.DETR.NO_OBJECT_WEIGHT", 1.0, "SEED", 3, "SOLVER.MAX_ITER", 3, "SOLVER.IMS_PER_BATCH", 2,
             "DATALOADER.ASPECT_RATIO_GROUPING", False,
             "INPUT.DETR_CROP.ENABLED", True, "INPUT.DETR_CROP.PROB", 1.0, "INPUT.DETR_CROP.PRE_RESIZE", (96,),
             "INPUT.DETR_CROP.TYPE", "absolute", "INPUT.DETR_CROP.SIZE", (64, 64), "INPUT.MIN_SIZE_TRAIN", (64,),
             "INPUT.MAX_SIZE_TRAIN", 64, "MODEL.RESNETS.NORM", "FrozenBN", "MODEL.DETR.DROPOUT", 0.0]


def _last_metrics(output_dir):
    lines = (output_dir / "metrics.json").read_text().strip().splitlines()
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    single, double = tmp_path_factory.mktemp("one_process"), tmp_path_factory.mktemp("two_processes")
    run_train_net(single, OVERRIDES, flags=["--num-gpus", "1"])
    run_train_net(double, OVERRIDES, flags=["--num-gpus", "2", "--dist-url", "auto"])
    return single, double


def test_two_processes_train_with_gloo_on_cpu(runs):
    _, double = runs
    log = (double / "log.txt").read_text()
    assert "World size: 2" in log
    assert (double / "log.txt.rank1").is_file()  # the second process logs to its own file
    assert (double / "model_final.pth").is_file()


def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    single, double = runs
    one, two = _last_metrics(single), _last_metrics(double)
    losses = sorted(k for k in one if k.startswith("loss_") or k == "total_loss")
    print("\n" + "\n".join(f"{k}: 1 process {one[k]:.6f}, 2 processes {two[k]:.6f}" for k in losses))
    for key in losses:  # medians over iterations 0-2, averaged over the processes
        # same samples and weights; only the float summation order differs (batched vs split)
        assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6), key
    weights_one, weights_two = final_weights(single), final_weights(double)
    worst = max(float((weights_one[k] - weights_two[k]).abs().max()) for k in weights_one)
    print(f"largest weight difference after 3 steps: {worst:.3e}")
    for name, value in weights_one.items():
        # three AdamW steps of LR 2e-4 from equal weights: differences stay at float-noise level
        torch.testing.assert_close(weights_two[name], value, atol=1e-5, rtol=1e-4, msg=name)
