"""Progress of a benchmark: elapsed time and an ETA from the wall times of the runs trained so far."""
import time
from typing import Dict, List, Optional, Sequence


class EtaClock:
    """Estimates a remaining run of method m as the mean measured time of m's runs, or of all runs
    while m has none (resumed runs count as whole ones, so the ETA errs on the long side)."""

    def __init__(self):
        self.start = time.time()
        self.measured: Dict[str, List[float]] = {}

    def record(self, method: str, seconds: float) -> None:
        self.measured.setdefault(method, []).append(seconds)

    def elapsed(self) -> float:
        return time.time() - self.start

    def eta(self, remaining_methods: Sequence[str]) -> Optional[float]:
        """Seconds left for runs of ``remaining_methods`` (one entry per run); None before any measurement."""
        every = [s for times in self.measured.values() for s in times]
        if not every:
            return None if remaining_methods else 0.0
        overall = sum(every) / len(every)
        return sum(_mean(self.measured.get(method)) or overall for method in remaining_methods)


def _mean(values):
    return sum(values) / len(values) if values else None


def minutes(seconds: Optional[float]) -> str:
    return "unknown until a run is measured" if seconds is None else f"{seconds / 60:.1f} min"
