"""Timing and peak-memory helpers of the benchmarks (no model knowledge here)."""
import gc
import resource
import statistics
import time
from contextlib import contextmanager
from typing import Callable, List, NamedTuple, Tuple

import torch


class Timing(NamedTuple):
    wall: float  # median seconds per call
    cpu: float  # median CPU seconds of the process per call (all threads; unaffected by waiting for a core)


def call_times(run: Callable[[], object], repeats: int) -> List[float]:
    """Wall seconds of each of ``repeats`` calls of ``run``, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def interleaved_medians(runs: List[Callable[[], object]], repeats: int) -> List[Timing]:
    """Median wall and CPU seconds per call of each function, after one warm-up call each.

    The calls alternate (a, b, a, b, ...) so that both sides see the same load drift on a shared
    machine; the CPU time is the robust measure there, as time spent waiting for a core is not in it.
    """
    for run in runs:
        run()
    samples: List[List[Tuple[float, float]]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, measured in zip(runs, samples):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            measured.append((time.perf_counter() - wall, time.process_time() - cpu))
    return [Timing(statistics.median(w for w, _ in m), statistics.median(c for _, c in m)) for m in samples]


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """This process's resident set size now, in MiB (Linux /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2.0 ** 20


def peak_growth_mb(run: Callable[[], object]) -> Tuple[float, float]:
    """(RSS before ``run()``, peak RSS during it minus that) in MiB. Call it in a fresh process;
    ValueError when ``run()`` did not raise the process's peak (an earlier peak hides its own)."""
    gc.collect()
    earlier_peak, before = peak_rss_mb(), current_rss_mb()
    run()
    peak = peak_rss_mb()
    if peak <= earlier_peak:
        raise ValueError(f"The measured call stayed below the process's earlier peak RSS ({earlier_peak:.0f} MiB); "
                         "measure a larger input")
    return before, peak - before


@contextmanager
def torch_threads(count: int):
    """torch's intra-op thread count set to ``count`` inside, the caller's restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
