"""The timeline PNG of one long video (``predict --long --explain DIR``): the spotting scores over time with their
thresholds, the spotted intervals coloured by recognised class, and the faceless stretches shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CLASS_COLOURS = {"negative": "#c44e52", "positive": "#55a868", "surprise": "#dd8452"}
UNRECOGNISED = "#8c8c8c"


def long_timeline_png(path: str | Path, title: str, curves: dict[str, dict], table: pd.DataFrame, fps: float) -> Path:
    """Two panels (micro, macro): the smoothed score and the threshold; each interval of that kind shaded in its
    class colour and labelled with the class; faceless stretches hatched grey in both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 1, figsize=(14, 5.2), sharex=True)
    rows = table.to_dict("records")
    for ax, kind in zip(axes, ("micro", "macro")):
        curve = curves[kind]["curve"]
        seconds = np.arange(curve.size) / fps
        ax.plot(seconds, curve, color="#4c72b0", linewidth=0.9, label=f"{kind} score (k = {curves[kind]['k']})")
        ax.axhline(curves[kind]["threshold"], color="black", linestyle="--", linewidth=0.8, label="threshold")
        top = np.nanmax(curve) if np.isfinite(curve).any() else 1.0
        for r in rows:
            start, end = r["onset"] / fps, (r["offset"] + 1) / fps
            if r["status"] == "no face":
                ax.axvspan(start, end, facecolor="#d0d0d0", hatch="//", edgecolor="#909090", alpha=0.6, zorder=0)
            elif r["type"] == kind:
                colour = CLASS_COLOURS.get(r["class"], UNRECOGNISED) if r["status"] == "ok" else UNRECOGNISED
                ax.axvspan(start, end, color=colour, alpha=0.35, zorder=0)
                ax.axvline(r["apex"] / fps, color=colour, linewidth=0.8)
                ax.text((start + end) / 2, top * 1.1, r["class"] if r["status"] == "ok" else "?", ha="center",
                        va="bottom", fontsize=7, color=colour, fontweight="bold")
        ax.set_ylim(0, top * 1.3)
        ax.set_ylabel(f"{kind} score", fontsize=8)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7)
    handles = [Patch(color=c, alpha=0.5, label=n) for n, c in CLASS_COLOURS.items()]
    handles += [Patch(color=UNRECOGNISED, alpha=0.5, label="not recognised"),
                Patch(facecolor="#d0d0d0", hatch="//", edgecolor="#909090", label="no face")]
    fig.legend(handles=handles, loc="upper right", fontsize=7, ncol=5)
    axes[1].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
