"""What a benchmark's runs cost, read from their folders: wall hours and CPU hours."""
import math
from typing import NamedTuple, Sequence

from projects.benchmark.convergence.runs import Run, logged_minutes, recorded_threads


class Cost(NamedTuple):
    """Summed over the runs whose log.txt holds a logged time (``logged`` of ``runs``): wall hours of
    training + evaluation, and CPU hours = wall hours x the run's OMP_NUM_THREADS, over the
    ``threads_known`` runs whose thread count was recorded."""
    runs: int
    logged: int
    wall_hours: float
    threads_known: int
    cpu_hours: float

    def sentence(self) -> str:
        """The cost line of the table's legend."""
        text = (f"Cost: {self.wall_hours:.1f} h of training + evaluation (wall clock, summed over the {self.logged} "
                f"of {self.runs} runs with a logged time)")
        if self.threads_known == self.logged:
            return text + f", {self.cpu_hours:.1f} CPU hours (each run's wall time x its OMP_NUM_THREADS)."
        return text + (f"; {self.cpu_hours:.1f} CPU hours for the {self.threads_known} runs launched with "
                       "OMP_NUM_THREADS set (the others: unknown).")


def benchmark_cost(runs: Sequence[Run]) -> Cost:
    """The cost of ``runs`` (finished or not) from their log.txt and recorded thread counts."""
    logged = wall = cpu = 0.0
    known = 0
    for run in runs:
        total, _ = logged_minutes(run)
        if math.isnan(total):
            continue
        logged += 1
        wall += total / 60
        threads = recorded_threads(run)
        if threads is not None:
            known += 1
            cpu += total / 60 * threads
    return Cost(len(runs), int(logged), wall, known, cpu)
