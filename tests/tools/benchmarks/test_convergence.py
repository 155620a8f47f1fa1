"""tools/benchmarks/convergence.py and projects/benchmark/convergence: the speed-up and curve logic on hand-made
curves, and the tool end to end on the small embedded dataset (3 train_net.py launches: 2 methods x 4
iterations with tiny inputs, then one resumed run): table, plot, cache, resume, checkpoint clean-up;
the seeds' mean and spread through --report-only on hand-made run folders."""
import contextlib
import io
import json
import shutil
import sys

import pytest
import yaml

from projects.benchmark.convergence import (ApPoint, EtaClock, MethodResult, Run, budget_overrides,
                                            discover_methods, iterations_to_reach, markdown_table, mean_curve,
                                            plan_runs, prune_checkpoints, read_ap_curve, run_state, speed_up)
from tests.test_train_net import RUN_TRAIN_NET
from tests.tools.tool_utils import ROOT, TINY_OPTS, load_tool

# speed-up / interpolation: results are sums and ratios of a few float64 values
EXACT = dict(rel=1e-12)


# ---------------------------------------------------------------- speed-up and interpolation
def test_crossing_between_two_evaluations_is_interpolated():
    assert iterations_to_reach([(100, 4.0), (200, 8.0)], 6.0) == pytest.approx(100 + (6 - 4) / (8 - 4) * 100, **EXACT)


def test_crossing_before_the_first_evaluation_starts_from_the_origin():
    assert iterations_to_reach([(100, 10.0), (200, 12.0)], 5.0) == pytest.approx(100 * 5 / 10, **EXACT)


def test_crossing_at_an_evaluation_point_is_that_point():
    assert iterations_to_reach([(100, 2.0), (200, 6.0), (300, 7.0)], 6.0) == pytest.approx(200, **EXACT)


def test_first_crossing_counts_when_the_curve_dips_afterwards():
    assert iterations_to_reach([(100, 7.0), (200, 3.0), (300, 9.0)], 5.0) == pytest.approx(100 * 5 / 7, **EXACT)


def test_a_curve_that_never_reaches_the_target():
    assert iterations_to_reach([(100, 1.0), (200, 2.0)], 3.0) is None


def test_target_ap_must_be_positive():
    with pytest.raises(ValueError, match="must be > 0"):
        iterations_to_reach([(100, 1.0)], 0.0)


def test_speed_up_is_the_ratio_of_iterations_to_detrs_final_ap():
    detr = [(100, 2.0), (200, 4.0)]                       # reaches its final AP 4.0 at 200
    fast = [(100, 8.0), (200, 10.0)]                      # reaches 4.0 at 100 * 4 / 8 = 50
    assert speed_up(detr, fast) == pytest.approx(200 / 50, **EXACT)
    assert speed_up(detr, detr) == pytest.approx(1.0, **EXACT)
    assert speed_up(detr, [(100, 1.0), (200, 3.9)]) is None


def test_detr_reaching_its_final_ap_early_shortens_its_own_count():
    detr = [(100, 5.0), (200, 4.0)]                       # final AP 4.0 first reached at 80
    method = [(100, 2.0), (200, 6.0)]                     # reaches 4.0 at 150
    assert speed_up(detr, method) == pytest.approx(80 / 150, **EXACT)


# ---------------------------------------------------------------- table
def one_seed(method, points):
    curve = mean_curve([[ApPoint(i, ap, 2 * ap) for i, ap in points]])
    return MethodResult(method, [1], curve, 1.5)


def table_rows(text):
    """{method: {column: cell}} of a Markdown table."""
    lines = [line.strip().strip("|").split("|") for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0]]
    return {cells[0].strip(): dict(zip(header, (c.strip() for c in cells))) for cells in lines[2:]}


def test_table_speed_up_cells():
    results = [one_seed("detr", [(100, 2.0), (200, 4.0)]), one_seed("deformable_detr", [(100, 8.0), (200, 10.0)]),
               one_seed("smca_single_scale", [(100, 1.0), (200, 3.5)])]
    rows = table_rows(markdown_table(results))
    assert rows["detr"]["speed-up"] == "1.0x"
    assert rows["deformable_detr"]["speed-up"] == f"{200 / 50:.2f}x"
    assert rows["smca_single_scale"]["speed-up"] == "never (3.50)"
    assert rows["smca_single_scale"]["iters to DETR's final AP (4.00)"] == "never"
    assert rows["deformable_detr"]["AP50 (final)"] == "20.00"


def test_table_spread_is_half_the_range_over_seeds():
    curves = [[ApPoint(100, 3.0, 6.0), ApPoint(200, 5.0, 9.0)], [ApPoint(100, 1.0, 2.0), ApPoint(200, 4.0, 8.0)]]
    rows = table_rows(markdown_table([MethodResult("detr", [1, 2], mean_curve(curves), 2.0)]))
    assert rows["detr"]["AP@100"] == f"{2.0:.2f} ± {1.0:.2f}"
    assert rows["detr"]["AP (final)"] == f"{4.5:.2f} ± {0.5:.2f}"
    assert rows["detr"]["seeds"] == "1 2"


def test_table_without_detr_says_so():
    rows = table_rows(markdown_table([one_seed("conditional_detr", [(100, 2.0)])], target_ap=1.0))
    assert rows["conditional_detr"]["speed-up"] == "n/a (no DETR run)"
    assert rows["conditional_detr"]["iters to AP 1"] == f"{100 * 1 / 2:.0f}"


# ---------------------------------------------------------------- curves, runs, progress
def write_metrics(path, records, truncated_tail=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + truncated_tail)


def evaluation(iteration, ap):
    return {"iteration": iteration, "bbox/AP": ap, "bbox/AP50": ap + 10}


def test_curve_maps_detectron2_iterations_and_keeps_the_latest_evaluation(tmp_path):
    metrics = tmp_path / "metrics.json"
    write_metrics(metrics, [{"iteration": 19, "total_loss": 3.0}, evaluation(99, 1.0), evaluation(199, 2.0),
                            evaluation(149, 9.0),          # off the 100-iteration grid: another schedule
                            evaluation(199, 2.5),          # evaluated again after a resume: this one counts
                            evaluation(301, 4.0)],         # final evaluation of a run resumed after its end
                  truncated_tail='{"iteration": 3')
    curve = read_ap_curve(metrics, iters=300, eval_every=100)
    assert [p.iteration for p in curve] == [100, 200, 300]
    assert [p.ap for p in curve] == [1.0, 2.5, 4.0]  # values copied from the file, not computed


def test_mean_curve_keeps_the_iterations_every_seed_evaluated():
    curves = [[ApPoint(100, 1.0, 5.0), ApPoint(200, 3.0, 7.0)], [ApPoint(200, 5.0, 9.0)]]
    (point,) = mean_curve(curves)
    assert point.iteration == 200
    assert (point.ap, point.ap_low, point.ap_high) == pytest.approx((4.0, 3.0, 5.0), **EXACT)
    assert point.ap50 == pytest.approx(8.0, **EXACT)


def test_plan_runs_gives_every_seed_to_seeded_methods_only(tmp_path):
    runs = plan_runs(tmp_path, ["detr", "deformable_detr"], [3, 4], ["detr"])
    assert [(r.method, r.seed) for r in runs] == [("detr", 3), ("detr", 4), ("deformable_detr", 3)]
    assert runs[2].output_dir == tmp_path / "deformable_detr" / "seed3"


def test_budget_overrides_drop_the_lr_at_80_percent(tmp_path):
    overrides = budget_overrides(300, 50, 7, tmp_path)
    settings = dict(zip(overrides[::2], overrides[1::2]))
    assert settings == {"SOLVER.MAX_ITER": "300", "SOLVER.STEPS": "(240,)", "TEST.EVAL_PERIOD": "50",
                        "SOLVER.CHECKPOINT_PERIOD": "50", "SEED": "7", "OUTPUT_DIR": str(tmp_path)}


def test_run_state(tmp_path):
    run = Run("detr", 1, tmp_path / "run")
    assert run_state(run, 200, 100) == "start"
    write_metrics(run.metrics_file, [evaluation(99, 1.0)])
    (run.output_dir / "last_checkpoint").write_text("model_0000099.pth")
    assert run_state(run, 200, 100) == "resume"
    write_metrics(run.metrics_file, [evaluation(99, 1.0), evaluation(200, 2.0)])
    assert run_state(run, 200, 100) == "cached"


def test_eta_uses_the_methods_own_time_then_the_mean():
    clock = EtaClock()
    assert clock.eta(["detr"]) is None
    clock.record("detr", 10.0)
    clock.record("deformable_detr", 20.0)
    assert clock.eta(["detr", "smca_single_scale"]) == pytest.approx(10.0 + 15.0, **EXACT)


# ---------------------------------------------------------------- the tool end to end
# tiny model and inputs: a run of 4 iterations with 2 evaluations takes seconds
TINY_RUN = [*TINY_OPTS, "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", "INPUT.MIN_SIZE_TEST", "64",
            "INPUT.MAX_SIZE_TEST", "96"]
# The default (pretrained) regime's configs; TINY_OPTS sets MODEL.WEIGHTS "": the frozen stem + res2, FrozenBN
# and LR groups are exercised without making the pretrained trunk (minutes).
REGIME = "pretrained"
BUDGET = ["--regime", REGIME, "--iters", "4", "--eval-every", "2"]
BENCHMARK = [*BUDGET, "--methods", "detr", "deformable_detr", "--seeds", "1", "--keep-checkpoints"]


@pytest.fixture(scope="module")
def tool():
    return load_tool("benchmarks/convergence")


@pytest.fixture(scope="module")
def launcher(small_embedded_root):
    """train_net.py on the small embedded dataset copy."""
    return [sys.executable, "-c", RUN_TRAIN_NET, str(small_embedded_root)]


def run_tool(tool, argv, launcher):
    """Run the tool's main; returns what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tool.main(argv, launcher=launcher)
    return printed.getvalue()


@pytest.fixture(scope="module")
def benchmark(tool, launcher, tmp_path_factory):
    """The tool run once (2 methods, 1 seed, 4 iterations): (output root, what it printed)."""
    root = tmp_path_factory.mktemp("convergence")
    printed = run_tool(tool, [*BENCHMARK, "--output-root", str(root), "--", *TINY_RUN], launcher)
    return root, printed


def evaluations_in(folder):
    """{Detectron2 iteration: (AP, AP50)} of the evaluations in a run's metrics.json, read directly."""
    records = [json.loads(line) for line in (folder / "metrics.json").read_text().splitlines()]
    return {r["iteration"]: (r["bbox/AP"], r["bbox/AP50"]) for r in records if "bbox/AP" in r}


def test_tool_writes_table_and_plot(benchmark):
    root, printed = benchmark
    assert (root / REGIME / "table.md").read_text() in printed
    assert (root / REGIME / "ap_vs_iteration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[1/2] detr seed 1: training" in printed and "[2/2] deformable_detr seed 1: training" in printed
    assert printed.count("ETA") == 2


def test_table_has_one_row_per_method_with_the_runs_numbers(benchmark):
    root, _ = benchmark
    rows = table_rows((root / REGIME / "table.md").read_text())
    assert list(rows) == ["detr", "deformable_detr"]
    for method, row in rows.items():
        evaluations = evaluations_in(root / REGIME / method / "seed1")
        # evaluated after 2 steps (logged under step index 1) and at the end (logged under MAX_ITER)
        assert sorted(evaluations) == [1, 4]
        assert row["AP@2"] == f"{evaluations[1][0]:.2f}"
        assert row["AP@4"] == row["AP (final)"] == f"{evaluations[4][0]:.2f}"
        assert row["AP50 (final)"] == f"{evaluations[4][1]:.2f}"
        assert row["seeds"] == "1"
    assert rows["detr"]["speed-up"] in ("1.0x", "n/a (DETR's final AP is 0)")


def test_runs_get_the_common_budget(benchmark):
    root, _ = benchmark
    for method in ("detr", "deformable_detr"):
        config = yaml.safe_load((root / REGIME / method / "seed1" / "config.yaml").read_text())
        assert (config["SOLVER"]["MAX_ITER"], config["SOLVER"]["STEPS"], config["SEED"]) == (4, [3], 1)
        assert config["INPUT"]["MAX_SIZE_TEST"] == 96  # the trailing overrides come last


def test_second_invocation_reuses_finished_runs(tool, launcher, benchmark):
    root, _ = benchmark
    before = {p: p.read_bytes() for p in (root / REGIME).glob("*/seed*/metrics.json")}
    printed = run_tool(tool, [*BENCHMARK, "--output-root", str(root), "--", *TINY_RUN], launcher=["false"])
    assert printed.count(": cached") == 2
    assert {p: p.read_bytes() for p in before} == before


def test_unfinished_run_is_resumed_then_pruned(tool, launcher, benchmark, tmp_path):
    """A run cut after its first evaluation continues from that checkpoint, not from the start; once
    finished, its periodic checkpoints are deleted."""
    source, _ = benchmark
    run_dir = tmp_path / REGIME / "deformable_detr" / "seed1"
    shutil.copytree(source / REGIME / "deformable_detr" / "seed1", run_dir)
    (run_dir / "last_checkpoint").write_text("model_0000001.pth")
    lines = (run_dir / "metrics.json").read_text().splitlines()
    (run_dir / "metrics.json").write_text("".join(line + "\n" for line in lines if json.loads(line)["iteration"] <= 1))
    printed = run_tool(tool, [*BUDGET, "--methods", "deformable_detr", "--seeds", "1", "--output-root", str(tmp_path),
                              "--", *TINY_RUN], launcher)
    assert "[1/1] deformable_detr seed 1: resuming" in printed
    starts = [line for line in (run_dir / "log.txt").read_text().splitlines() if "Starting training from" in line]
    assert starts[-1].endswith("Starting training from iteration 2")
    assert sorted(evaluations_in(run_dir)) == [1, 4]
    assert sorted(p.name for p in run_dir.glob("*.pth")) == ["model_final.pth"]


def write_finished_run(folder, aps):
    """A run folder holding only a metrics.json with evaluations {Detectron2 iteration: AP}."""
    write_metrics(folder / "metrics.json", [evaluation(i, ap) for i, ap in aps.items()])
    return folder


def test_report_only_averages_the_seeds(tool, tmp_path):
    regime = tmp_path / REGIME
    write_finished_run(regime / "detr" / "seed1", {1: 1.0, 4: 3.0})
    write_finished_run(regime / "detr" / "seed2", {1: 2.0, 4: 5.0})
    write_finished_run(regime / "deformable_detr" / "seed1", {1: 6.0, 4: 9.0})
    printed = run_tool(tool, [*BUDGET, "--methods", "detr", "deformable_detr", "--seeds", "1", "2", "--seeded-methods",
                              "detr", "--output-root", str(tmp_path), "--report-only"], launcher=["false"])
    rows = table_rows((regime / "table.md").read_text())
    assert (regime / "table.md").read_text() in printed
    assert rows["detr"]["seeds"] == "1 2"
    assert rows["detr"]["AP (final)"] == f"{(3.0 + 5.0) / 2:.2f} ± {(5.0 - 3.0) / 2:.2f}"
    # DETR's mean final AP 4.0 is reached by DETR at 2 + (4 - 1.5) / (4 - 1.5) * 2 = 4, by Deformable at 2 * 4 / 6
    assert rows["deformable_detr"]["speed-up"] == f"{4 / (2 * 4 / 6):.2f}x"
    assert (regime / "ap_vs_iteration.png").is_file()


def test_prune_keeps_only_the_final_checkpoint(tmp_path):
    run = Run("detr", 1, tmp_path)
    for name in ["model_0000099.pth", "model_0000199.pth", "model_final.pth", "model_interrupted.pth"]:
        (tmp_path / name).write_bytes(b"")
    deleted = prune_checkpoints(run)
    assert [p.name for p in deleted] == ["model_0000099.pth", "model_0000199.pth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_final.pth", "model_interrupted.pth"]


def test_other_budget_in_the_same_folder_is_refused(tool, benchmark):
    root, _ = benchmark
    with pytest.raises(SystemExit, match="SOLVER.MAX_ITER 4"):
        run_tool(tool, [*BENCHMARK, "--iters", "6", "--output-root", str(root)], launcher=["false"])


def test_missing_regime_configs_are_named(tool, monkeypatch, tmp_path):
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    with pytest.raises(SystemExit, match="embedded_pretrained/detr.yaml"):
        run_tool(tool, ["--methods", "detr", "--output-root", str(tmp_path)], launcher=["false"])


def test_both_regimes_hold_the_same_methods_with_the_reference_first(tool):
    pretrained, random = (discover_methods(ROOT, regime) for regime in ("pretrained", "random"))
    assert pretrained == random and pretrained[0] == "detr"
    assert "main_job" not in pretrained
    for method in pretrained:
        assert tool.config_file("random", method).is_file() and tool.config_file("pretrained", method).is_file()


def test_by_default_every_discovered_method_runs_every_seed(tool):
    args = tool.parse_args([])
    assert args.methods == discover_methods(ROOT, "pretrained")
    assert args.seeded_methods == args.methods
    assert tool.parse_args(["--seeded-methods", "detr"]).seeded_methods == ["detr"]
