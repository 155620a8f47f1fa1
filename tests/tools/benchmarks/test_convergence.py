"""tools/benchmarks/convergence.py and projects/benchmark/convergence: the speed-up and curve logic on hand-made
curves, and the tool end to end on the small embedded dataset (3 train_net.py launches: DETR 6 and Deformable
DETR 4 iterations (--reference-iters) with tiny inputs, then one resumed run): table, plot, cache, resume,
checkpoint clean-up; the seeds' mean and spread, cut runs and the cost through --report-only on hand-made run
folders; the method discovery rule and the regimes' configs."""
import contextlib
import io
import json
import shutil
import sys

import pytest
import yaml

from projects.benchmark.convergence import (REGIMES, ApPoint, CutRun, EtaClock, MethodResult, Run, benchmark_cost,
                                            budget_overrides, budget_sentence, discover_methods, is_main_job,
                                            iterations_to_reach, markdown_table, mean_curve, plan_runs,
                                            prune_checkpoints, read_ap_curve, record_threads, run_state, seed_pairs,
                                            speed_up, training_minutes)
from projects.config import load_config
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


def test_seed_pairs_read_every_method_seed_against_every_detr_seeds_own_final_ap():
    detr = [[(100, 2.0), (200, 4.0)], [(100, 3.0), (200, 3.0)]]  # finals 4.0 (reached at 200), 3.0 (at 100)
    method = [[(100, 8.0)], [(100, 3.5)]]
    pairs = seed_pairs(detr, method)
    expected = [(100 * 4 / 8, 200 / (100 * 4 / 8)), (None, None),
                (100 * 3 / 8, 100 / (100 * 3 / 8)), (100 * 3 / 3.5, 100 / (100 * 3 / 3.5))]
    assert [p[0] is None for p in pairs] == [e[0] is None for e in expected]
    for (needed, ratio), (want_needed, want_ratio) in zip(pairs, expected):
        if want_needed is not None:
            assert (needed, ratio) == pytest.approx((want_needed, want_ratio), **EXACT)


# ---------------------------------------------------------------- table
def seeds_result(method, *seeds, **fields):
    """A MethodResult from hand-made per-seed [(iteration, AP)] (AP50 = 2 AP), seeds numbered 1, 2, ..."""
    curves = [[ApPoint(i, ap, 2 * ap) for i, ap in points] for points in seeds]
    return MethodResult(method, list(range(1, len(seeds) + 1)), curves, 1.5, **fields)


def one_seed(method, points):
    return seeds_result(method, points)


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
    # the equal-iteration comparison at the common budget (200): the method's AP minus DETR's
    assert rows["deformable_detr"]["ΔAP vs DETR @200"] == f"{10.0 - 4.0:+.2f}"
    assert rows["smca_single_scale"]["ΔAP vs DETR @200"] == f"{3.5 - 4.0:+.2f}"


def test_table_with_a_longer_reference_spans_every_evaluation_point():
    """DETR trains 400 iterations, the others 200: the columns run to 400, the others' cells past 200 are
    empty, the equal-iteration comparison is at 200, the speed-up uses DETR's final AP at 400."""
    results = [one_seed("detr", [(100, 1.0), (200, 2.0), (300, 3.0), (400, 4.0)]),
               one_seed("conditional_detr", [(100, 5.0), (200, 6.0)])]
    rows = table_rows(markdown_table(results))
    assert [key for key in rows["detr"] if key.startswith("AP@")] == ["AP@100", "AP@200", "AP@300", "AP@400"]
    assert rows["conditional_detr"]["AP@300"] == rows["conditional_detr"]["AP@400"] == "-"
    assert rows["conditional_detr"]["ΔAP vs DETR @200"] == f"{6.0 - 2.0:+.2f}"
    assert rows["conditional_detr"]["iters to DETR's final AP (4.00)"] == f"{100 * 4 / 5:.0f}"
    assert rows["conditional_detr"]["speed-up"] == f"{400 / (100 * 4 / 5):.2f}x"
    assert rows["detr"]["iters to DETR's final AP (4.00)"] == "400"


def test_table_speed_up_spread_over_seed_pairs():
    detr = seeds_result("detr", [(100, 2.0), (200, 4.0)], [(100, 2.0), (200, 2.0)])   # finals 4 (at 200), 2 (at 100)
    method = seeds_result("smca_single_scale", [(100, 8.0), (200, 8.0)], [(100, 3.0), (200, 3.0)])
    rows = table_rows(markdown_table([detr, method]))
    # pairs (DETR seed, method seed): (1, 1) 200 / 50, (1, 2) never, (2, 1) 100 / 25, (2, 2) 100 / (100 * 2 / 3)
    speed_ups = [200 / 50, 100 / 25, 100 / (100 * 2 / 3)]
    mean, half = sum(speed_ups) / 3, (max(speed_ups) - min(speed_ups)) / 2
    assert rows["smca_single_scale"]["speed-up"] == f"{mean:.2f}x ± {half:.2f} (1 of 4 seed pairs never)"
    needed = [50, 25, 100 * 2 / 3]
    assert rows["smca_single_scale"]["iters to DETR's final AP (3.00 ± 1.00)"] == (
        f"{sum(needed) / 3:.0f} ± {(max(needed) - min(needed)) / 2:.0f} (1 of 4 seed pairs never)")
    assert rows["detr"]["iters to DETR's final AP (3.00 ± 1.00)"] == f"{(200 + 100) / 2:.0f} ± {(200 - 100) / 2:.0f}"
    assert rows["detr"]["speed-up"] == "1.0x"


def test_table_marks_runs_cut_by_the_budget():
    results = [one_seed("detr", [(100, 2.0), (200, 4.0)]),
               seeds_result("deformable_detr", [(100, 8.0)], cut=[CutRun(1, 100, 200)], finished=False),
               seeds_result("smca_single_scale", [(100, 1.0), (200, 5.0)], cut=[CutRun(2, 0, 200)])]
    rows = table_rows(markdown_table(results))
    assert rows["deformable_detr (cut)"]["cut by the budget"] == "seed 1 at 100 of 200"
    assert rows["smca_single_scale"]["cut by the budget"] == "seed 2 at 0 of 200"
    assert rows["detr"]["cut by the budget"] == "-"
    assert "cut by the budget" not in table_rows(markdown_table(results[:1]))["detr"]


def test_budget_sentence_names_the_reference_budget():
    assert budget_sentence(300) == "every run 300 iterations, LR x0.1 after iteration 240"
    assert budget_sentence(300, 600) == ("detr (the reference) 600 iterations, LR x0.1 after iteration 480; "
                                         "the other methods 300 iterations, LR x0.1 after iteration 240")


def test_table_spread_is_half_the_range_over_seeds():
    curves = [[ApPoint(100, 3.0, 6.0), ApPoint(200, 5.0, 9.0)], [ApPoint(100, 1.0, 2.0), ApPoint(200, 4.0, 8.0)]]
    rows = table_rows(markdown_table([MethodResult("detr", [1, 2], curves, 2.0)]))
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
    runs = plan_runs(tmp_path, ["detr", "deformable_detr"], [3, 4], ["detr"], 300)
    assert [(r.method, r.seed, r.iters) for r in runs] == [("detr", 3, 300), ("detr", 4, 300),
                                                            ("deformable_detr", 3, 300)]
    assert runs[2].output_dir == tmp_path / "deformable_detr" / "seed3"


def test_plan_runs_gives_the_reference_its_own_budget(tmp_path):
    runs = plan_runs(tmp_path, ["detr", "deformable_detr"], [1], ["detr"], 300, "detr", 600)
    assert [(r.method, r.iters) for r in runs] == [("detr", 600), ("deformable_detr", 300)]


def test_budget_overrides_drop_the_lr_at_80_percent(tmp_path):
    overrides = budget_overrides(300, 50, 7, tmp_path)
    settings = dict(zip(overrides[::2], overrides[1::2]))
    assert settings == {"SOLVER.MAX_ITER": "300", "SOLVER.STEPS": "(240,)", "TEST.EVAL_PERIOD": "50",
                        "SOLVER.CHECKPOINT_PERIOD": "50", "SEED": "7", "OUTPUT_DIR": str(tmp_path)}


def test_run_state(tmp_path):
    run = Run("detr", 1, tmp_path / "run", 200)
    assert run_state(run, 100) == "start"
    write_metrics(run.metrics_file, [evaluation(99, 1.0)])
    (run.output_dir / "last_checkpoint").write_text("model_0000099.pth")
    assert run_state(run, 100) == "resume"
    write_metrics(run.metrics_file, [evaluation(99, 1.0), evaluation(200, 2.0)])
    assert run_state(run, 100) == "cached"
    assert run_state(run._replace(iters=400), 100) == "resume"  # the same folder read with a longer budget


def training_log(*launches):
    """log.txt lines of Detectron2's IterationTimer, one per launch: (total, hooks) as H:MM:SS strings."""
    return "".join(f"[12/08 01:00:00 d2.engine.hooks]: Total training time: {total} ({hooks} on hooks)\n"
                   for total, hooks in launches)


def test_training_minutes_sum_the_launches_without_the_hooks(tmp_path):
    run = Run("detr", 1, tmp_path, 200)
    assert training_minutes(run) != training_minutes(run)  # NaN: nothing logged
    (tmp_path / "log.txt").write_text(training_log(("0:10:30", "0:02:00"), ("1 day, 2:00:00", "0:30:00")))
    assert training_minutes(run) == pytest.approx(10.5 - 2 + 26 * 60 - 30, **EXACT)


def test_cost_sums_wall_hours_and_cpu_hours_of_the_runs_on_disk(tmp_path):
    runs = [Run("detr", seed, tmp_path / f"seed{seed}", 200) for seed in (1, 2, 3)]
    runs[0].output_dir.mkdir()
    (runs[0].output_dir / "log.txt").write_text(training_log(("2:00:00", "0:20:00")))
    record_threads(runs[0], {"OMP_NUM_THREADS": "2"})
    runs[1].output_dir.mkdir()
    (runs[1].output_dir / "log.txt").write_text(training_log(("0:30:00", "0:05:00"), ("0:30:00", "0:05:00")))
    record_threads(runs[1], {})                                 # launched without OMP_NUM_THREADS
    cost = benchmark_cost(runs)                                 # runs[2]: never launched
    assert (cost.runs, cost.logged, cost.threads_known) == (3, 2, 1)
    assert (cost.wall_hours, cost.cpu_hours) == pytest.approx((2.0 + 1.0, 2.0 * 2), **EXACT)
    assert f"{4.0:.1f} CPU hours for the 1 runs" in cost.sentence()


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
# DETR, the reference, trains 6 iterations (LR drop at round(0.8 * 6) = 5), Deformable DETR 4 (drop at 3)
BENCHMARK = [*BUDGET, "--reference-iters", "6", "--methods", "detr", "deformable_detr", "--seeds", "1",
             "--keep-checkpoints"]
BUDGETS = {"detr": (6, [5]), "deformable_detr": (4, [3])}


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
    """The tool run once (2 methods, 1 seed, 6 and 4 iterations): (output root, what it printed)."""
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
    assert "[1/2] detr seed 1: training to 6 iterations" in printed
    assert "[2/2] deformable_detr seed 1: training to 4 iterations" in printed
    assert printed.count("ETA") == 2


def test_table_has_one_row_per_method_with_the_runs_numbers(benchmark):
    root, _ = benchmark
    rows = table_rows((root / REGIME / "table.md").read_text())
    assert list(rows) == ["detr", "deformable_detr"]
    for method, row in rows.items():
        iters = BUDGETS[method][0]
        evaluations = evaluations_in(root / REGIME / method / "seed1")
        # Evaluated every 2 steps (logged under the step index: 1, 3) and at the end (logged under MAX_ITER).
        # Detectron2's JSONWriter writes the latest value of each metric every 20 iterations, so in DETR's
        # 6-iteration run the evaluation after 2 steps is overwritten by the one after 4 (real runs evaluate
        # every >= 50 iterations).
        assert iters in evaluations and set(evaluations) <= {1, 3, iters}
        for record, (ap, _) in evaluations.items():
            assert row[f"AP@{min(record + 1, iters)}"] == f"{ap:.2f}"
        assert row["AP (final)"] == f"{evaluations[iters][0]:.2f}"
        assert row["AP50 (final)"] == f"{evaluations[iters][1]:.2f}"
        assert row["seeds"] == "1"
    assert 1 in evaluations_in(root / REGIME / "deformable_detr" / "seed1")
    assert rows["deformable_detr"]["AP@6"] == "-"  # the columns span DETR's longer run
    assert rows["detr"]["speed-up"] in ("1.0x", "n/a (a DETR seed ends at AP 0)")
    legend = (root / REGIME / "table.md").read_text().split("\n\n", 1)[1]
    assert f"Regime: {REGIMES[REGIME].description};" in legend
    assert "detr (the reference) 6 iterations" in legend
    assert "summed over the 2 of 2 runs with a logged time" in legend


def test_runs_get_the_common_budget(benchmark):
    root, _ = benchmark
    for method, (iters, steps) in BUDGETS.items():
        config = yaml.safe_load((root / REGIME / method / "seed1" / "config.yaml").read_text())
        assert (config["SOLVER"]["MAX_ITER"], config["SOLVER"]["STEPS"], config["SEED"]) == (iters, steps, 1)
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
    # each DETR seed reaches its own final AP (3, 5) at 4; Deformable reaches 3 at 2 * 3 / 6, 5 at 2 * 5 / 6
    speed_ups = [4 / (2 * 3 / 6), 4 / (2 * 5 / 6)]
    assert rows["deformable_detr"]["speed-up"] == (f"{sum(speed_ups) / 2:.2f}x ± "
                                                   f"{(max(speed_ups) - min(speed_ups)) / 2:.2f}")
    assert (regime / "ap_vs_iteration.png").is_file()


def test_report_only_rebuilds_table_and_plot_from_the_cache_alone(tool, tmp_path):
    """A cache left by a session: DETR finished its 8 iterations (--reference-iters), Deformable DETR its 4,
    single-scale SMCA cut after its first evaluation, Conditional DETR never started. --report-only trains
    nothing (the launcher would fail), leaves the runs as they are, marks the cut run and states the cost."""
    regime = tmp_path / REGIME
    detr = write_finished_run(regime / "detr" / "seed1", {1: 1.0, 3: 2.0, 5: 3.0, 8: 4.0})
    deformable = write_finished_run(regime / "deformable_detr" / "seed1", {1: 5.0, 4: 6.0})
    smca = write_finished_run(regime / "smca_single_scale" / "seed1", {1: 0.5})
    (smca / "last_checkpoint").write_text("model_0000001.pth")
    for folder, threads in ((detr, "2"), (deformable, "2"), (smca, "1")):
        (folder / "log.txt").write_text(training_log(("1:00:00", "0:06:00")))
        record_threads(Run("", 1, folder, 1), {"OMP_NUM_THREADS": threads})
    before = {p: p.read_bytes() for p in regime.rglob("*") if p.is_file()}
    printed = run_tool(tool, [*BUDGET, "--reference-iters", "8", "--methods", "detr", "deformable_detr",
                              "smca_single_scale", "conditional_detr", "--seeds", "1", "--output-root", str(tmp_path),
                              "--report-only"], launcher=["false"])
    text = (regime / "table.md").read_text()
    rows = table_rows(text)
    assert list(rows) == ["detr", "deformable_detr", "smca_single_scale (cut)"]
    assert "(no finished run of conditional_detr" in printed
    assert [key for key in rows["detr"] if key.startswith("AP@")] == ["AP@2", "AP@4", "AP@6", "AP@8"]
    assert rows["deformable_detr"]["ΔAP vs DETR @4"] == f"{6.0 - 2.0:+.2f}"
    assert rows["deformable_detr"]["speed-up"] == f"{8 / (2 * 4 / 5):.2f}x"
    assert rows["smca_single_scale (cut)"]["cut by the budget"] == "seed 1 at 2 of 4"
    assert rows["smca_single_scale (cut)"]["speed-up"] == f"not yet ({0.5:.2f})"
    assert rows["detr"]["train min"] == f"{60 - 6:.1f}"
    assert f"{3.0:.1f} h of training + evaluation" in text and f"{5.0:.1f} CPU hours" in text
    assert (regime / "ap_vs_iteration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p: p.read_bytes() for p in before} == before


def test_prune_keeps_only_the_final_checkpoint(tmp_path):
    run = Run("detr", 1, tmp_path, 200)
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


def test_a_method_is_a_config_and_main_jobs_are_not_methods(tmp_path):
    folder = tmp_path / REGIMES["pretrained"].folder
    folder.mkdir(parents=True)
    names = ["smca", "detr", "dn_dab_detr", "main_job", "main_job_imagenet_trunk", "dino_main_job", "domain_jobs"]
    for name in names:
        (folder / f"{name}.yaml").write_text("")
    (folder / "notes.txt").write_text("")
    assert discover_methods(tmp_path, "pretrained") == ["detr", "dn_dab_detr", "domain_jobs", "smca"]
    assert [is_main_job(name) for name in names] == [False, False, False, True, True, True, False]


@pytest.mark.parametrize("regime", list(REGIMES))
def test_every_regime_holds_the_reference_first_and_no_main_job(tool, regime):
    """Regimes hold their own method sets (a variant may exist in one regime only), each with DETR first."""
    methods = discover_methods(ROOT, regime)
    assert methods[0] == "detr"
    assert not any(is_main_job(method) for method in methods)
    assert all(tool.config_file(regime, method).is_file() for method in methods)


def test_convergence_regime_shares_detrs_trunk_with_single_level_methods_at_stride_16():
    """Every method config of the convergence regime trains DETR's pretrained trunk (same weights, backbone,
    frozen stages, inputs); the single-level ones read res4 (stride 16), except the stride-32 control of
    Conditional DETR (the paper's C5 row beside its DC5 row)."""
    def trunk(config):
        return (config.MODEL.WEIGHTS, config.MODEL.BACKBONE.NAME, config.MODEL.BACKBONE.FREEZE_AT,
                config.INPUT.MIN_SIZE_TRAIN, config.INPUT.MIN_SIZE_TEST)

    folder = ROOT / REGIMES["convergence"].folder
    detr = trunk(load_config(str(folder / "detr.yaml"), []))
    assert detr[0], "the convergence regime starts from a pretrained trunk (MODEL.WEIGHTS)"
    for method in discover_methods(ROOT, "convergence"):
        config = load_config(str(folder / f"{method}.yaml"), [])
        assert trunk(config) == detr, method
        if len(config.MODEL.DETR.IN_FEATURES) == 1:
            stride_32 = method.endswith("_s32")
            assert config.MODEL.DETR.IN_FEATURES == ["res5" if stride_32 else "res4"], method


def test_by_default_every_discovered_method_runs_every_seed(tool):
    args = tool.parse_args([])
    assert args.methods == discover_methods(ROOT, "pretrained")
    assert args.seeded_methods == args.methods
    assert tool.parse_args(["--seeded-methods", "detr"]).seeded_methods == ["detr"]
