"""The explanation image of one prediction: what the model saw and what it said.

Four panels: the aligned onset face with its motion mask (masked-out pixels tinted), the onset -> apex flow in
the colour-wheel coding (hue = direction, brightness = magnitude; legend inset), the optical strain, and the
class scores with the predicted class (an AU bundle: every AU's probability, the detected ones highlighted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocessing.vision.flow_images import colour_wheel, flow_to_rgb, robust_max


def explanation_png(path: str | Path, *, title: str, onset_face: np.ndarray, mask: np.ndarray, flow: np.ndarray,
                    labels: list[str], scores: np.ndarray, predicted: int | list[int], score_kind: str) -> Path:
    """Write the explanation PNG of one clip.

    Args:
        path: the PNG to write.
        title: the input and the frames used (first line of the figure).
        onset_face: (S, S) uint8 aligned onset.
        mask: (S, S) {0, 1} motion mask.
        flow: (4, S, S) float32 [u, v, strain, magnitude] in aligned-face pixels.
        labels: class names.
        scores: (C,) the clip's scores.
        predicted: the predicted class index, or the indices of the AUs detected (AU detection: ``scores`` are
            probabilities, NaN for an AU the bundle skipped).
        score_kind: what the scores are (probability, margin, decision value).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    u, v, strain = flow[0], flow[1], flow[2]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.9), gridspec_kw={"width_ratios": [1, 1, 1.2, 1.1]})
    face = np.repeat(onset_face[..., None], 3, axis=-1).astype(np.float32) / 255.0
    tinted = face.copy()
    tinted[mask == 0] = 0.55 * face[mask == 0] + 0.45 * np.array([0.15, 0.35, 0.9])
    axes[0].imshow(tinted)
    axes[0].contour(mask, levels=[0.5], colors="yellow", linewidths=0.8)
    axes[0].set_title("aligned onset, mask (blue = masked out)", fontsize=8)

    scale = robust_max(np.hypot(u, v)[mask > 0] if mask.any() else np.hypot(u, v))
    axes[1].imshow(flow_to_rgb(u, v, scale))
    wheel = colour_wheel(48)
    axes[1].imshow(wheel, extent=(0, u.shape[1] * 0.22, u.shape[0], u.shape[0] * 0.78), zorder=3)
    axes[1].set_xlim(0, u.shape[1])
    axes[1].set_ylim(u.shape[0], 0)
    axes[1].contour(mask, levels=[0.5], colors="white", linewidths=0.6)
    axes[1].set_title(f"flow onset->apex (full colour = {scale:.2f} px)", fontsize=9)

    shown = axes[2].imshow(strain, cmap="inferno", vmin=0, vmax=robust_max(strain[mask > 0] if mask.any() else strain))
    axes[2].contour(mask, levels=[0.5], colors="white", linewidths=0.6)
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    axes[2].set_title("optical strain", fontsize=9)
    for ax in axes[:3]:
        ax.set_xticks([])
        ax.set_yticks([])

    chosen = {predicted} if isinstance(predicted, int) else set(predicted)
    colours = ["#c44e52" if i in chosen else "#8c8c8c" for i in range(len(labels))]
    shown = np.nan_to_num(np.asarray(scores, dtype=np.float64))  # a skipped AU: an empty bar
    bars = axes[3].barh(labels, shown, color=colours)
    axes[3].invert_yaxis()
    axes[3].bar_label(bars, labels=["skipped" if np.isnan(s) else f"{s:.3f}" for s in scores], fontsize=8, padding=2)
    low, high = min(0.0, float(np.min(shown))), max(0.0, float(np.max(shown)))
    axes[3].set_xlim(low - 0.05 * (high - low + 1e-9), high + 0.25 * (high - low + 1e-9))
    said = (f"predicted: {labels[predicted]}" if isinstance(predicted, int) else
            f"detected: {', '.join(labels[i] for i in predicted) or 'no AU'}")
    axes[3].set_title(said, fontsize=10, fontweight="bold")
    axes[3].set_xlabel(score_kind, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
