#!/usr/bin/env python
"""Convergence benchmark on the embedded dataset: every method trained with the same budget.

Three regimes (``--regime``):

* ``pretrained`` (default): configs/embedded_pretrained/<method>.yaml - the embedded ResNet-18
  trunk pretrained on the embedded training split (MODEL.WEIGHTS), stem + res2 frozen, backbone LR
  x0.1, each paper's base LR, as the papers train from an ImageNet-pretrained trunk;
* ``random``: configs/quickstart/<method>_embedded.yaml - the whole model from random init;
* ``convergence``: configs/convergence/<method>.yaml - issue 21's regime: the pretrained trunk,
  single-level methods on the stride-16 map, inputs ~192 px (docs/benchmarks.md).

The methods are discovered: a method is a config of the regime's folder, named after its file; the
main jobs (configs whose name holds the word main_job) are not methods
(projects/benchmark/convergence/regimes.py). Each regime holds its own methods; --methods picks some.

Within a regime every method has the same trunk, data, input sizes, batch, hidden size, layers and
budget. The tool adds the same overrides to every run: SOLVER.MAX_ITER = --iters (for DETR, the
reference, --reference-iters when given: only DETR needs the long run, the others stop once they
can pass DETR's final AP), one LR drop (x0.1) at SOLVER.STEPS = (round(0.8 * MAX_ITER),) - every
paper drops its LR once at ~80% of its schedule (DETR: epoch 400 of 500; Deformable DETR,
Conditional DETR, SMCA: epoch 40 of 50) -
COCOEvaluator every --eval-every iterations (TEST.EVAL_PERIOD), a checkpoint at each evaluation
(SOLVER.CHECKPOINT_PERIOD), SEED, and OUTPUT_DIR = <output-root>/<regime>/<method>/seed<k>; then the
trailing config overrides given to this tool (they go last; after a list option such as --seeds,
put ``--`` before them). Every method runs once per --seeds entry; with --seeded-methods only the
methods named there do, the others with the first seed only.

    .venv/bin/python tools/benchmarks/convergence.py --iters 600 --eval-every 100
    .venv/bin/python tools/benchmarks/convergence.py --regime random --iters 300 --eval-every 100
    .venv/bin/python tools/benchmarks/convergence.py --iters 600 --eval-every 100 MODEL.DEVICE cuda
    .venv/bin/python tools/benchmarks/convergence.py --methods detr deformable_detr -- SOLVER.IMS_PER_BATCH 4
    .venv/bin/python tools/benchmarks/convergence.py --seeded-methods detr conditional_detr smca_single_scale -- ...
    .venv/bin/python tools/benchmarks/convergence.py --regime convergence --iters 3000 --reference-iters 6000 \
        --eval-every 250 --seeds 1 2 3 --seeded-methods detr conditional_detr smca_single_scale

Runs are sequential train_net.py subprocesses (log.txt, metrics.json, training_curves.png in each
run's folder). Nothing is lost on interruption (Ctrl-C lets the current run save a checkpoint):
rerun the same command and finished runs (final evaluation in metrics.json) are reported as cached,
an unfinished one continues with train_net.py --resume. Once a run is finished its periodic
checkpoints (weights + optimizer state, over 100 MB each for the embedded models) are deleted and
model_final.pth is kept, unless --keep-checkpoints. A run's budget is fixed when it starts: the tool
refuses a run folder trained with another MAX_ITER or EVAL_PERIOD.

Output, also rebuilt from the run folders alone by ``--report-only``:

* a Markdown table, printed and written to <output-root>/<regime>/table.md: per method, AP at every
  evaluation point of any run (mean over seeds ± half the range), AP50 and AP at the end, the
  iterations to reach DETR's final AP and the papers' speed-up = (iterations DETR needs to reach its
  own final AP) / (iterations the method needs to reach that AP), both read per pair (DETR seed,
  method seed) from the AP-vs-iteration curves (starting at AP 0 at iteration 0) with linear
  interpolation between evaluation points, as the mean over the pairs ± half their range; "never
  (x)" where a method ends at AP x below DETR's final AP; DETR is 1.0x by definition. Beside it the
  equal-iteration comparison (AP minus DETR's AP at the shortest budget), the training minutes, and
  the runs the budget cut (started, not finished: rerun the command to resume them). Under the
  table: the total wall hours and CPU hours (wall time x the run's OMP_NUM_THREADS, which the tool
  records in each run folder) of the runs on disk.
* <output-root>/<regime>/ap_vs_iteration.png: one line per method, the seeds' range shaded.
"""
import argparse
import subprocess
import sys
from pathlib import Path

from projects.benchmark.convergence import (REFERENCE, REGIMES, CutRun, EtaClock, MethodResult, benchmark_cost,
                                            budget_overrides, budget_sentence, check_same_budget, discover_methods,
                                            legend, markdown_table, plan_runs, plot_ap_vs_iteration,
                                            prune_checkpoints, record_threads, regime_config, run_state,
                                            training_minutes)
from projects.benchmark.convergence.progress import minutes

ROOT = Path(__file__).resolve().parents[2]  # the checkout: configs/ and train_net.py


def config_file(regime, method):
    """The config a method trains with in a regime."""
    return regime_config(ROOT, regime, method)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regime", choices=list(REGIMES), default="pretrained")
    parser.add_argument("--methods", nargs="+", metavar="METHOD",
                        help="configs of the regime's folder, by name (default: all of them)")
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--reference-iters", type=int, default=None, metavar="N",
                        help=f"{REFERENCE} (the reference) trains N iterations, LR drop at 0.8 N; the other methods "
                             "--iters (default: --iters)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seeded-methods", nargs="+", metavar="METHOD",
                        help="only these methods are trained with every seed, the others with the first "
                             "(default: every method with every seed)")
    parser.add_argument("--target-ap", type=float, default=None, help="add a column: iterations to reach this AP")
    parser.add_argument("--output-root", default="output/benchmark_convergence")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="keep finished runs' periodic checkpoints (default: only model_final.pth stays)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rebuild the table and plot from the run folders (the cache)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides applied to every run (last)")
    args = parser.parse_args(argv)
    args.opts = args.opts[1:] if args.opts[:1] == ["--"] else args.opts
    if min(args.iters, args.eval_every, 1 if args.reference_iters is None else args.reference_iters) < 1:
        parser.error("--iters, --reference-iters and --eval-every must be >= 1")
    args.methods = args.methods or discover_methods(ROOT, args.regime)
    if not args.methods:
        parser.error(f"no method configs in {ROOT / REGIMES[args.regime].folder}")
    args.seeded_methods = args.methods if args.seeded_methods is None else args.seeded_methods
    return args


def train_command(run, args, launcher, resume):
    """The train_net.py command line of one run (``launcher``: the interpreter and script)."""
    return [*launcher, "--config-file", str(config_file(args.regime, run.method)), *(["--resume"] if resume else []),
            *budget_overrides(run.iters, args.eval_every, run.seed, run.output_dir), *args.opts]


def train(run, args, launcher, resume):
    """Train one run to the end. On Ctrl-C, wait for train_net.py to save its checkpoint, then stop."""
    record_threads(run)
    stderr_file = run.output_dir / "stderr.txt"
    with open(stderr_file, "a") as stderr:
        process = subprocess.Popen(train_command(run, args, launcher, resume), cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            returncode = process.wait()
        except KeyboardInterrupt:
            print("\nInterrupted: waiting for train_net.py to save a checkpoint ...", flush=True)
            process.wait()
            sys.exit(f"Stopped. Rerun the same command to resume {run.output_dir} and continue the benchmark.")
    if returncode != 0:
        tail = stderr_file.read_text()[-2000:]
        sys.exit(f"{run.method} seed {run.seed} failed (exit {returncode}); see {run.output_dir}/log.txt\n{tail}")


def train_all(runs, args, launcher):
    """Every run in order: cached ones skipped, unfinished ones resumed; progress and ETA printed."""
    states = [run_state(run, args.eval_every) for run in runs]
    clock = EtaClock()
    for index, (run, state) in enumerate(zip(runs, states)):
        label = f"[{index + 1}/{len(runs)}] {run.method} seed {run.seed}"
        if state == "cached":
            print(f"{label}: cached ({run.output_dir})", flush=True)
            finish(run, args)
            continue
        print(f"{label}: {'resuming' if state == 'resume' else 'training'} to {run.iters} iterations ...", flush=True)
        started = clock.elapsed()
        train(run, args, launcher, resume=state == "resume")
        clock.record(run.method, clock.elapsed() - started)
        if run_state(run, args.eval_every) != "cached":
            sys.exit(f"{run.output_dir}: train_net.py ended without an evaluation at iteration {run.iters}")
        finish(run, args)
        final = run.curve(args.eval_every)[-1]
        left = [r.method for r, s in zip(runs[index + 1:], states[index + 1:]) if s != "cached"]
        print(f"    done in {minutes(clock.elapsed() - started)}, final AP {final.ap:.2f}; "
              f"elapsed {minutes(clock.elapsed())}, ETA {minutes(clock.eta(left))}", flush=True)


def finish(run, args):
    """A finished run keeps model_final.pth only (unless --keep-checkpoints)."""
    if not args.keep_checkpoints:
        prune_checkpoints(run)


def cut_run(run, eval_every):
    """A run started and not finished: how far its evaluations got."""
    curve = run.curve(eval_every)
    return CutRun(run.seed, curve[-1].iteration if curve else 0, run.iters)


def collect_results(runs, args):
    """One MethodResult per method from its finished runs, or from its cut runs (started, with an
    evaluation, not finished) when none finished; methods with neither are named on stdout."""
    results = []
    for method in dict.fromkeys(run.method for run in runs):
        mine = [r for r in runs if r.method == method]
        finished = [r for r in mine if run_state(r, args.eval_every) == "cached"]
        cut = [r for r in mine if r not in finished and r.output_dir.is_dir()]
        cut_runs = [cut_run(r, args.eval_every) for r in cut]
        rows = finished or [r for r in cut if r.curve(args.eval_every)]
        if not rows:
            print(f"(no finished run of {method} under {Path(args.output_root) / args.regime})")
            continue
        train_time = sum(training_minutes(r) for r in rows) / len(rows)
        results.append(MethodResult(method, [r.seed for r in rows], [r.curve(args.eval_every) for r in rows],
                                    train_time, cut_runs, bool(finished)))
    return results


def report(runs, args):
    """Print the table; write table.md and ap_vs_iteration.png next to the run folders."""
    results = collect_results(runs, args)
    if not results:
        sys.exit("nothing to report yet")
    regime_root = Path(args.output_root) / args.regime
    description = REGIMES[args.regime].description
    text = markdown_table(results, target_ap=args.target_ap) + "\n" + legend(
        description, budget_sentence(args.iters, args.reference_iters), args.eval_every,
        benchmark_cost(runs).sentence())
    (regime_root / "table.md").write_text(text)
    png = plot_ap_vs_iteration(results, regime_root / "ap_vs_iteration.png",
                               f"Embedded dataset, {description}: AP vs iteration")
    print(text + f"\nWritten: {regime_root / 'table.md'}, {png}")


def main(argv=None, launcher=None):
    """``launcher``: the command that runs train_net.py (default: this interpreter + train_net.py)."""
    args = parse_args(argv)
    runs = plan_runs(Path(args.output_root) / args.regime, args.methods, args.seeds, args.seeded_methods, args.iters,
                     REFERENCE, args.reference_iters)
    missing = sorted({str(path) for path in (config_file(args.regime, m) for m in args.methods) if not path.is_file()})
    if missing and not args.report_only:
        sys.exit(f"missing config(s) for --regime {args.regime}: {', '.join(missing)}")
    try:
        for run in runs:
            check_same_budget(run, args.eval_every)
    except ValueError as error:
        sys.exit(str(error))
    if not args.report_only:
        train_all(runs, args, launcher or [sys.executable, str(ROOT / "train_net.py")])
    report(runs, args)


if __name__ == "__main__":
    main()
