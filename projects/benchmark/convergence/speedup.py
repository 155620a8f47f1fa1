"""The papers' convergence measure, read from AP-vs-iteration curves.

speed-up of a method = (iterations the reference (DETR) needs to reach its own final AP)
                       / (iterations the method needs to reach that same AP).

"Iterations needed to reach AP a" is where the curve first crosses a, interpolated linearly between
the two evaluation points around the crossing. Every curve starts at (0 iterations, AP 0): an
untrained detection head detects nothing, so a method already above ``a`` at its first evaluation
is interpolated from the origin rather than credited with its first evaluation point.

With several seeds, ``seed_pairs`` reads both numbers for every (reference seed, method seed) pair,
so that their spread carries both methods' seed spread.
"""
from typing import List, Optional, Sequence, Tuple

Curve = Sequence[Tuple[float, float]]  # [(iterations, AP)] sorted by iterations


def iterations_to_reach(curve: Curve, target: float) -> Optional[float]:
    """Iterations at which ``curve`` first reaches ``target`` AP (> 0), or None if it never does."""
    if target <= 0:
        raise ValueError(f"target AP must be > 0 (got {target}): every curve starts at AP 0")
    previous_iteration, previous_ap = 0.0, 0.0
    for iteration, ap in curve:
        if ap >= target:
            fraction = (target - previous_ap) / (ap - previous_ap)
            return previous_iteration + fraction * (iteration - previous_iteration)
        previous_iteration, previous_ap = iteration, ap
    return None


def speed_up(reference: Curve, curve: Curve) -> Optional[float]:
    """(iterations ``reference`` needs to reach its final AP) / (iterations ``curve`` needs to reach
    it); None when ``curve`` never reaches it. The reference's final AP must be > 0."""
    target = reference[-1][1]
    needed = iterations_to_reach(curve, target)
    return None if needed is None else iterations_to_reach(reference, target) / needed


def seed_pairs(reference: Sequence[Curve], curves: Sequence[Curve]) -> List[Tuple[Optional[float], Optional[float]]]:
    """For every (reference seed i, method seed j): (iterations seed j needs to reach seed i's final AP,
    speed-up = iterations seed i needs to reach its own final AP / that), each None where seed j never
    reaches it. Pairing every seed with every seed carries both methods' seed spread into the
    speed-up's. Every reference seed's final AP must be > 0."""
    pairs = []
    for reference_curve in reference:
        target = reference_curve[-1][1]
        own = iterations_to_reach(reference_curve, target)
        for curve in curves:
            needed = iterations_to_reach(curve, target)
            pairs.append((needed, None if needed is None else own / needed))
    return pairs
