"""The benchmark's AP-vs-iteration plot: one line per method (mean over seeds), the seeds' range shaded."""
from pathlib import Path
from typing import Optional, Sequence

from projects.benchmark.convergence.table import MethodResult


def plot_ap_vs_iteration(results: Sequence[MethodResult], output_file, title: str,
                         reference: Optional[str] = "detr") -> Path:
    """Write the PNG; the reference's final AP (the speed-up target) is drawn as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5))
    for result in results:
        iterations = [p.iteration for p in result.curve]
        line, = axis.plot(iterations, [p.ap for p in result.curve], "o-", markersize=3,
                          label=f"{result.method} ({len(result.seeds)} seed{'s' if len(result.seeds) > 1 else ''})")
        if len(result.seeds) > 1:
            axis.fill_between(iterations, [p.ap_low for p in result.curve], [p.ap_high for p in result.curve],
                              color=line.get_color(), alpha=0.2, linewidth=0)
        if result.method == reference:
            axis.axhline(result.curve[-1].ap, color=line.get_color(), linestyle="--", linewidth=0.8,
                         label=f"{reference} final AP (speed-up target)")
    axis.set(xlabel="iteration", ylabel="COCO bbox AP (validation)", title=title)
    axis.set_xlim(left=0)
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(output_file, dpi=110)
    plt.close(figure)
    return Path(output_file)
