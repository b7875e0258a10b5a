"""Training curves of a run: the per-epoch losses (and inner UAR) every fold reported, averaged over folds.

Folds report them as Ray Tune intermediate results (``mer_ray/search/tune.py``); the driver appends them to
``RUN/curves.csv`` (config_id, subject, phase, epoch, metric, value) and Tune's TensorBoard logger writes them
under ``RUN/tune`` (``tensorboard --logdir RUN/tune``). Training subjects only: no held-out label or score.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mer_ray.search.run_folder import RunFolder

CURVES = "curves.csv"
KEY = ["config_id", "subject", "phase", "epoch", "metric"]


def read_curves(folder: RunFolder) -> pd.DataFrame:
    """``RUN/curves.csv``, one row per (config, fold, phase, epoch, metric): a fold rerun after an interrupt
    appended its epochs again, and its last run counts (it is the one whose predictions were kept)."""
    path = folder.file(CURVES)
    if not path.is_file():
        return pd.DataFrame(columns=[*KEY, "value"])
    return pd.read_csv(path).drop_duplicates(KEY, keep="last").reset_index(drop=True)


def summarise(curves: pd.DataFrame, config_id: str) -> pd.DataFrame:
    """Mean, std, min, max and fold count over folds of every (phase, metric, epoch) of ``config_id``."""
    mine = curves[curves["config_id"] == config_id]
    stats = mine.groupby(["phase", "metric", "epoch"])["value"].agg(["mean", "std", "min", "max", "count"])
    return stats.reset_index().fillna({"std": 0.0})


def plot_curves(folder: RunFolder, config_id: str) -> Path | None:
    """``RUN/curves_<config_id>.png``: one panel per (phase, metric), the mean over folds with its spread
    (mean +- std, and min..max lighter); None when the configuration reported no curve (a linear method)."""
    summary = summarise(read_curves(folder), config_id)
    if summary.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    order = {"pretrain": 0, "train": 1, "inner_pretrain": 2, "inner_train": 3, "inner": 4}
    panels = sorted(summary.groupby(["phase", "metric"]), key=lambda item: (order.get(item[0][0], 9), item[0]))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.4, 4.2 * len(panels)), 3.4), squeeze=False)
    for ax, ((phase, metric), frame) in zip(axes[0], panels):
        x = frame["epoch"].to_numpy()
        mean, std = frame["mean"].to_numpy(), frame["std"].to_numpy()
        ax.fill_between(x, frame["min"], frame["max"], alpha=0.15, color="C0", label="min..max")
        ax.fill_between(x, mean - std, mean + std, alpha=0.3, color="C0", label="mean +- std")
        ax.plot(x, mean, color="C0", marker="o" if len(x) < 20 else None, label="mean")
        ax.set_title(f"{phase} {metric} ({int(frame['count'].max())} folds)")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{config_id}: training curves over the LOSO folds\n(training subjects only)", fontsize=10)
    fig.tight_layout()
    path = folder.file(f"curves_{config_id}.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def report_section(folder: RunFolder, config_id: str) -> str:
    """Markdown for ``report.md``: the PNG of the best configuration's curves (empty when it has none)."""
    path = plot_curves(folder, config_id)
    if path is None:
        return ""
    return (f"\n## Training curves of {config_id}\n\n"
            "Per-epoch training loss (and inner-validation UAR when epochs are chosen on an inner split) of every "
            "fold, averaged over folds; the bands are the spread over folds. Training subjects only. Every fold's "
            f"curve: `{CURVES}`; TensorBoard: `tensorboard --logdir {folder.tune_dir}`.\n\n![curves]({path.name})\n")
