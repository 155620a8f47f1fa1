"""Timing and peak-memory helpers of the peer benchmark (no model knowledge here)."""
import gc
import resource
import statistics
import time
from typing import Callable, List, Tuple


def interleaved_medians(runs: List[Callable[[], object]], repeats: int) -> List[float]:
    """Median seconds per call of each function, after one warm-up call each.

    The calls alternate (a, b, a, b, ...) so that both sides see the same load drift on a shared machine.
    """
    for run in runs:
        run()
    times: List[List[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, measured in zip(runs, times):
            start = time.perf_counter()
            run()
            measured.append(time.perf_counter() - start)
    return [statistics.median(measured) for measured in times]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_growth_mb(run: Callable[[], object]) -> Tuple[float, float]:
    """(peak RSS before, growth of the peak RSS during ``run()``) in MiB; call it in a fresh process,
    so that nothing measured before (another model, a larger run) hides the growth."""
    gc.collect()
    before = peak_rss_mb()
    run()
    return before, peak_rss_mb() - before
