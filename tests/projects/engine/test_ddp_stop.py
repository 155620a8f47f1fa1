"""A NaN on one rank stops every rank within seconds, with one line naming the rank, the tensor and
the iteration (issue 24, item 4).

Two launchers of 2 x 1 CPU processes (gloo), as ``train_net.py --num-machines 2 --machine-rank r``
starts them on two machines: no launcher can terminate the other's process, so rank 0 stops only if
the finite checks' collective tells it that rank 1 found a NaN. Rank 1's predictions are NaN at
iteration 2 (injected before the checks run)."""
import socket
import subprocess
import sys
import time

from detectron2.engine import default_argument_parser
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage

from projects.engine.launch import setup
from projects.engine.one_line_errors import launch_with_one_line_errors
from projects.engine.trainer import Trainer
from tests.harness.train_runs import environment, train_net_command
from tests.harness.e2e_utils import ROOT

NAN_RANK, NAN_ITERATION = 1, 2
STOP_LIMIT_S = 60  # from the NaN to the end of both launchers (measured: about 10 s on a loaded 2-core machine)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _nan_boxes_on_one_rank(marker):
    """A criterion pre-hook making rank NAN_RANK's boxes NaN at NAN_ITERATION (time noted in ``marker``)."""
    def hook(module, args):
        if comm.get_rank() == NAN_RANK and get_event_storage().iter == NAN_ITERATION:
            with open(marker, "w") as file:
                file.write(repr(time.time()))
            return ({**args[0], "pred_boxes": args[0]["pred_boxes"] * float("nan")},) + tuple(args[1:])
    return hook


def train_with_nan(args):
    """train_net.py's main for ``args`` with the NaN injected (runs in each launched process)."""
    cfg = setup(args)
    trainer = Trainer(cfg)
    marker = f"{cfg.OUTPUT_DIR}/nan_injected_at"
    trainer.model_without_ddp.criterion.register_forward_pre_hook(_nan_boxes_on_one_rank(marker), prepend=True)
    trainer.resume_or_load(resume=False)
    return trainer.train()


def launch_one(output_dir, machine_rank, dist_url):
    """One launcher: the train_net.py command line of a tiny 6-iteration run, machine ``machine_rank`` of 2."""
    flags = ["--num-gpus", "1", "--num-machines", "2", "--machine-rank", str(machine_rank), "--dist-url", dist_url]
    command = train_net_command(output_dir, ["SOLVER.MAX_ITER", 6], flags=flags)
    launch_with_one_line_errors(train_with_nan, default_argument_parser().parse_args(command[2:]))


def test_nan_on_rank_1_stops_both_ranks_with_one_line(tmp_path):
    dist_url = f"tcp://127.0.0.1:{_free_port()}"
    program = "import sys; from tests.projects.engine.test_ddp_stop import launch_one; launch_one(*sys.argv[1:])"
    launchers = [subprocess.Popen([sys.executable, "-c", program, str(tmp_path), str(rank), dist_url], cwd=ROOT,
                                  env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for rank in (0, 1)]
    try:
        errors = [launcher.communicate(timeout=300)[1] for launcher in launchers]
    finally:
        for launcher in launchers:
            launcher.kill()
    ended = time.time()
    stop_seconds = ended - float((tmp_path / "nan_injected_at").read_text())
    print(f"\nboth ranks stopped {stop_seconds:.1f} s after the NaN")
    expected = (rf"error: Non-finite model output on rank {NAN_RANK} at iteration {NAN_ITERATION}: pred_boxes has "
                r"\d+ NaN/inf values of \d+, before the loss was computed; training diverged: ")
    for rank, (launcher, stderr) in enumerate(zip(launchers, errors)):
        assert launcher.returncode == 1, (rank, stderr[-3000:])
        assert "Traceback" not in stderr, (rank, stderr[-3000:])
        assert __import__("re").match(expected, stderr.splitlines()[-1]), (rank, stderr[-3000:])
    # rank 0 found no NaN itself and stopped at the same iteration, before its backward pass
    log = (tmp_path / "log.txt").read_text()
    assert f"Exception during training: Non-finite model output on rank {NAN_RANK} at iteration {NAN_ITERATION}" in log
    assert stop_seconds < STOP_LIMIT_S
