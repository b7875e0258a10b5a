"""Run outputs people read: leaderboard table (like the paper's Tables 2 and 3), confusion PNGs, report.md."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer_ray.evaluation.metrics import (
    CLASS_NAMES,
    bootstrap_ci,
    confusion,
    paired_bootstrap,
    pooled_scores,
    repeated_paired_bootstrap,
    score_predictions,
)
from mer_ray.evaluation.parts import portfolio_section
from mer_ray.infra.atomic import write_text
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec

SUMMARY_PARAMS = ("method", "model", "modality", "input_size", "pretrain", "classifier", "lr", "epochs", "batch_size")


def datasets_of(board: pd.DataFrame) -> list[str]:
    return sorted(c[len("uar_"):] for c in board.columns if c.startswith("uar_"))


def _names(value: Any) -> list[str]:
    """A list of names as a leaderboard holds it: a list, or its text from a CSV (JSON or Python's repr)."""
    if not isinstance(value, str):
        return [str(v) for v in value]
    try:
        return [str(v) for v in json.loads(value)]
    except ValueError:
        return [v.strip(" '\"") for v in value.strip("[]").split(",") if v.strip(" '\"")]


def describe_config(row: pd.Series) -> str:
    """A short human description of a configuration from its ``param_*`` columns."""
    parts = []
    for key in SUMMARY_PARAMS:
        value = row.get(f"param_{key}")
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if key == "lr":
            parts.append(f"lr={float(value):.1e}")
        elif key == "pretrain":
            parts.append("pretrained" if bool(value) else "no-pretrain")
        elif key == "method":
            if value == "portfolio" and row.get("param_members") is not None:  # "portfolio: probe + shufflenet"
                parts.append(f"portfolio: {' + '.join(_names(row['param_members']))}")
            elif value != "network":
                parts.append(str(value))
        elif key in ("model", "modality", "classifier"):
            parts.append(str(value))
        else:
            whole = isinstance(value, float) and value.is_integer()  # Optuna's storage turns grid ints into floats
            parts.append(f"{key}={int(value) if whole else value}")
    return " ".join(parts)


def score_table(board: pd.DataFrame) -> pd.DataFrame:
    """Configuration, composite UAR / UF1 / accuracy, per-dataset UAR / UF1 (paper Tables 2-3 layout)."""
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    if done.empty or "uar" not in done:
        return pd.DataFrame(columns=["config", "description", "UAR", "UF1", "Acc"])
    columns: dict[str, Any] = {
        "config": done["config_id"],
        "description": done.apply(describe_config, axis=1),
        "UAR": done["uar"],
        "UF1": done["uf1"],
        "Acc": done["accuracy"],
    }
    for dataset in datasets_of(done):
        columns[f"{dataset} UAR"] = done[f"uar_{dataset}"]
        columns[f"{dataset} UF1"] = done[f"uf1_{dataset}"]
    return pd.DataFrame(columns).reset_index(drop=True)


def format_table(table: pd.DataFrame) -> str:
    """Fixed-width text for the terminal."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(table.columns))) + "|"
    lines = [header, rule]
    for _, row in table.iterrows():
        cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_confusion(matrix: np.ndarray, title: str, path: Path) -> Path:
    """Save a row-normalised confusion matrix (counts in the cells) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix, dtype=float), where=totals > 0)
    fig, ax = plt.subplots(figsize=(4.2, 3.8), dpi=120)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, f"{share[i, j]:.2f}\n({matrix[i, j]})", ha="center", va="center",
                    color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@dataclass(frozen=True)
class ProbeComparison:
    """The best model against the linear probe on the same clips: pooled UARs and the paired difference."""

    model_uar: float
    probe_uar: float
    difference: float
    low: float
    high: float

    @property
    def beats(self) -> bool:
        return self.difference > 0

    def sentence(self, label: str) -> str:
        interval = f"paired 95% CI [{self.low:+.3f}, {self.high:+.3f}]"
        if self.difference == self.low == self.high == 0:
            return f"{label} predicts exactly what the linear probe predicts (in the peers grid: it is the probe)."
        if not self.beats:
            return (f"{label} does NOT beat the linear probe: UAR {self.model_uar:.4f} vs the probe's "
                    f"{self.probe_uar:.4f} ({self.difference:+.4f}, {interval}).")
        certain = "the interval excludes 0" if self.low > 0 else "the interval includes 0: not a clear win"
        return (f"{label} beats the linear probe by {self.difference:+.4f} UAR ({self.model_uar:.4f} vs "
                f"{self.probe_uar:.4f}; {interval}: {certain}).")


def compare_with_probe(predictions: pd.DataFrame, probe: pd.DataFrame, *, n_boot: int = 1000,
                       seed: int = 0) -> ProbeComparison:
    """Pooled UAR of ``predictions`` minus the probe's, with the paired subject-bootstrap interval."""
    diff, low, high = paired_bootstrap(predictions, probe, metric="uar", n_boot=n_boot, seed=seed)
    model = pooled_scores(predictions["y_true"], predictions["y_pred"])["uar"]
    return ProbeComparison(model, model - diff, diff, low, high)


def probe_section(comparison: ProbeComparison | None, label: str, folds: str = "LOSO folds") -> list[str]:
    if comparison is None:
        return []
    return ["## Against the linear probe", "",
            "The probe (`--search probe`: masked (u, v) flow pooled to 16x16, standardised, logistic regression "
            f"with C chosen on the training subjects) ran on the same {folds}. " + comparison.sentence(label),
            ""]


def protocol_lines(spec: RunSpec) -> list[str]:
    """The report's first lines: the evaluation protocol and its folds (``Protocol: leave one dataset out (3 folds:
    casme2, samm, smic): ...``)."""
    return [f"Protocol: {spec.describe_protocol()}.", ""]


def folds_word(spec: RunSpec) -> str:
    """``LOSO folds`` or ``leave-one-dataset-out folds``: how the report names the run's folds."""
    return "LOSO folds" if spec.protocol == "loso" else "leave-one-dataset-out folds"


def leaderboard(board: pd.DataFrame, predictions: pd.DataFrame, reference: str | None, *, n_boot: int = 1000,
                seed: int = 0) -> pd.DataFrame:
    """Table 3: one row per complete configuration (by label) with bootstrap intervals and, when ``reference``
    names one of the labels, the paired difference of every other configuration from it."""
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    if done.empty:
        return pd.DataFrame()
    labels = done.set_index("config_id")["label"] if "label" in done else done.set_index("config_id")["config_id"]
    reference_ids = [cid for cid, label in labels.items() if label == reference]
    ref = predictions[predictions["config_id"] == reference_ids[0]] if reference_ids else None
    rows = []
    for config_id, label in labels.items():
        part = predictions[predictions["config_id"] == config_id]
        s = score_predictions(part)
        uar, uf1 = (bootstrap_ci(part, metric=m, n_boot=n_boot, seed=seed) for m in ("uar", "uf1"))
        row = {"method": label, "config": config_id, "UAR": s["uar"], "UAR 95% CI": f"[{uar[0]:.3f}, {uar[1]:.3f}]",
               "UF1": s["uf1"], "UF1 95% CI": f"[{uf1[0]:.3f}, {uf1[1]:.3f}]"}
        for dataset in sorted(part["dataset"].unique()):
            row[f"{dataset} UAR"], row[f"{dataset} UF1"] = s[f"uar_{dataset}"], s[f"uf1_{dataset}"]
        if ref is not None:
            if config_id == reference_ids[0]:
                row[f"UAR - {reference}"] = "(reference)"
            else:
                diff, low, high = paired_bootstrap(part, ref, metric="uar", n_boot=n_boot, seed=seed)
                row[f"UAR - {reference}"] = f"{diff:+.4f} [{low:+.3f}, {high:+.3f}]"
        rows.append(row)
    return pd.DataFrame(rows).sort_values("UAR", ascending=False).reset_index(drop=True)


def write_report(folder: RunFolder, board: pd.DataFrame, predictions: pd.DataFrame, spec: RunSpec, *,
                 probe_board: pd.DataFrame | None = None, probe: pd.DataFrame | None = None,
                 n_boot: int = 1000) -> Path:
    """Write ``report.md`` and the confusion PNGs of the best configuration into the run folder.

    ``probe_board`` / ``probe``: the linear probe's leaderboard and predictions on the same folds (its row is
    added to the table and the best configuration is compared with it).
    """
    table = score_table(board)
    lodo = spec.protocol == "lodo"
    title = "Cross-dataset report" if lodo else "LOSO report"
    lines = [f"# {title}: search space `{spec.space}`", "", *protocol_lines(spec)]
    lines.append(f"Features: `{spec.features}`. Objective told to Optuna: pooled {spec.objective.upper()} of each "
                 f"configuration over all its {folds_word(spec)} (predictions concatenated, then scored).")
    lines.append("")
    if table.empty:
        lines.append("No configuration completed all its folds: see the failures in `leaderboard.csv`.")
        write_text(folder.report, "\n".join(lines) + "\n")
        return folder.report
    repeated = spec.repeats > 1
    # repeats of one configuration: the first one is shown in detail (picking the best seed would be optimistic)
    best_id = sorted(table["config"])[0] if repeated else table.iloc[0]["config"]
    best = predictions[predictions["config_id"] == best_id]
    searched = spec.trials > 1
    shown = table
    if probe_board is not None and not score_table(probe_board).empty:
        reference = score_table(probe_board).assign(config="probe", description="linear probe (reference)")
        shown = pd.concat([table, reference], ignore_index=True)
    lines += ["## Configurations", "", markdown_table(shown), ""]
    if spec.reference:
        table3 = leaderboard(board, predictions, spec.reference, n_boot=n_boot, seed=spec.seed)
        lines += [f"## Leaderboard (Table 3) with paired intervals against `{spec.reference}`", "",
                  "Every method on the same LOSO folds; 95% intervals resample whole subjects; the paired interval "
                  "draws the same subjects for both methods.", "", markdown_table(table3), ""]
    if repeated:
        lines += repeats_summary(board, predictions, probe, n_boot=n_boot, seed=spec.seed).section()
    heading = f"## First repeat: `{best_id}`" if repeated else f"## Best configuration: `{best_id}`"
    lines += [heading, "", f"{describe_config(board.iloc[0])}", ""]
    if searched:
        lines += [
            f"> **Optimistic estimate.** `{best_id}` was picked as the best of {len(table)} configurations by a "
            f"search over the SAME {folds_word(spec)}, so its score is biased upwards (selection on the test folds). "
            "An unbiased figure needs a nested protocol (search inside each outer fold on its training subjects) "
            "or a fixed configuration chosen in advance (`--search paper`).",
            "",
        ]
    if probe is not None and not probe.empty:
        lines += probe_section(compare_with_probe(best, probe, n_boot=n_boot, seed=spec.seed),
                               f"The best configuration `{best_id}`", folds_word(spec))
    lines += slice_section(folder, best, best_id, n_boot=n_boot, seed=spec.seed, held_out_datasets=lodo)
    details = {fold: d for fold, d in folder.fold_details(best_id).items() if "portfolio" in d}
    parts = portfolio_section(best, details)
    if parts:
        lines += [parts]
    write_text(folder.report, "\n".join(lines) + "\n")
    return folder.report


def mean_std(values) -> tuple[float, float]:
    """``(mean, std)`` of the repeats' scores, NaN ones left out (an AU scored in no fold); the sample standard
    deviation (``ddof=1``), 0 for one value; ``(nan, nan)`` for none."""
    kept = [float(v) for v in values if not np.isnan(v)]
    if not kept:
        return float("nan"), float("nan")
    return float(np.mean(kept)), (float(np.std(kept, ddof=1)) if len(kept) > 1 else 0.0)


def spread(values) -> str:
    """``0.6123 +- 0.0141``: :func:`mean_std` as the reports write it (``-`` when no value is a number)."""
    mean, std = mean_std(values)
    return "-" if np.isnan(mean) else f"{mean:.4f} +- {std:.4f}"


@dataclass(frozen=True)
class RepeatsSummary:
    """One configuration trained several times with other seeds (``--repeats``): each repeat's pooled scores, their
    mean +- std, and the mean's paired difference from the probe (:func:`repeated_paired_bootstrap`)."""

    ids: tuple[str, ...]
    uar: tuple[float, ...]
    uf1: tuple[float, ...]
    versus: tuple[float, float, float] | None  # (difference, low, high) of the mean UAR against the probe

    @staticmethod
    def _spread(values: tuple[float, ...]) -> str:
        return spread(values)

    def sentence(self) -> str:
        text = f"UAR {self._spread(self.uar)}, UF1 {self._spread(self.uf1)} (mean +- std over {len(self.ids)})"
        if self.versus is not None:
            diff, low, high = self.versus
            text += (f"; against the linear probe {diff:+.4f} UAR (paired 95% CI [{low:+.3f}, {high:+.3f}], the "
                     "same subjects drawn for every repeat and the probe)")
        return text

    def section(self) -> list[str]:
        rows = [f"| `{c}` | {u:.4f} | {f:.4f} |" for c, u, f in zip(self.ids, self.uar, self.uf1)]
        return [f"## Repeats: {len(self.ids)} trainings of one configuration with other seeds", "",
                "| repeat | pooled UAR | pooled UF1 |", "|---|---|---|", *rows,
                f"| **mean +- std** | **{self._spread(self.uar)}** | **{self._spread(self.uf1)}** |", "",
                self.sentence()[0].upper() + self.sentence()[1:] + ".", ""]


def repeats_summary(board: pd.DataFrame, predictions: pd.DataFrame, probe: pd.DataFrame | None, *,
                    n_boot: int = 1000, seed: int = 0) -> RepeatsSummary:
    """The :class:`RepeatsSummary` of every completed configuration of ``board`` (the repeats of a fixed one)."""
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    ids = tuple(sorted(done["config_id"]))
    frames = [predictions[predictions["config_id"] == c] for c in ids]
    scores = [pooled_scores(f["y_true"], f["y_pred"]) for f in frames]
    versus = None
    if probe is not None and not probe.empty and frames:
        versus = repeated_paired_bootstrap(frames, probe, metric="uar", n_boot=n_boot, seed=seed)
    return RepeatsSummary(ids, tuple(s["uar"] for s in scores), tuple(s["uf1"] for s in scores), versus)


def slice_section(folder: RunFolder, predictions: pd.DataFrame, label: str, *, n_boot: int, seed: int,
                  held_out_datasets: bool = False) -> list[str]:
    """Markdown lines: composite and per-dataset scores with bootstrap intervals, plus confusion PNGs.

    ``held_out_datasets``: a leave-one-dataset-out run, where each dataset's row is one fold (that dataset held out,
    trained on the others); the heading and the first column say so.
    """
    lines = []
    if held_out_datasets:
        lines += ["## Scores per held-out dataset", "",
                  "Each dataset row is one fold: the model trained on the other datasets' subjects and predicted "
                  "every clip of this dataset; `composite` pools the folds.", "",
                  "| held-out dataset | n | UAR [95% CI] | UF1 [95% CI] | Acc |"]
    else:
        lines += ["| slice | n | UAR [95% CI] | UF1 [95% CI] | Acc |"]
    lines += ["|---|---:|---:|---:|---:|"]
    slices = [("composite", predictions)] + [(d, part) for d, part in predictions.groupby("dataset", sort=True)]
    images = []
    for name, part in slices:
        s = pooled_scores(part["y_true"], part["y_pred"])
        uar_ci = bootstrap_ci(part, metric="uar", n_boot=n_boot, seed=seed)
        uf1_ci = bootstrap_ci(part, metric="uf1", n_boot=n_boot, seed=seed)
        lines.append(f"| {name} | {s['n']} | {s['uar']:.4f} [{uar_ci[0]:.3f}, {uar_ci[1]:.3f}] | "
                     f"{s['uf1']:.4f} [{uf1_ci[0]:.3f}, {uf1_ci[1]:.3f}] | {s['accuracy']:.4f} |")
        png = plot_confusion(confusion(part["y_true"], part["y_pred"]), f"{label} {name}",
                             folder.file(f"confusion_{label}_{name}.png"))
        images.append((name, png.name))
    lines += ["", f"95% intervals: percentile bootstrap over subjects ({n_boot} resamples of whole subjects).", ""]
    lines += ["## Confusion matrices (rows: true class, row-normalised)", ""]
    lines += [f"![{name}]({png})" for name, png in images]
    lines.append("")
    return lines


def write_nested_report(folder: RunFolder, search, spec: RunSpec, *, probe: pd.DataFrame | None = None,
                        n_boot: int = 1000) -> Path:
    """``report.md`` of a nested run: the unbiased pooled outer score and the configuration each fold chose."""
    summary = search.summary()
    predictions = search.outer_predictions()
    lines = [f"# Nested LOSO report: search space `{spec.space}`", "",
             f"Protocol: nested leave one subject out ({len(search.outer)} outer folds, one per subject, each with "
             "its own search).", "",
             f"Features: `{spec.features}`. Every outer fold (one held-out subject) ran its own search over "
             f"{search.n_trials} configurations, scored by pooled predictions over {search.k} inner folds of its "
             "TRAINING subjects only; the best configuration was retrained on all its training subjects and "
             "predicted the held-out subject. The pooled outer predictions below are therefore an **unbiased** "
             "estimate of the whole procedure (search + training): no score here was selected on its own test "
             "subject.", ""]
    if predictions.empty:
        lines.append("No outer fold finished.")
    else:
        if not summary["complete"]:
            missing = sorted(set(search.outer) - set(predictions["subject"]))
            lines += [f"> **Incomplete:** {len(missing)} outer folds have no prediction ({', '.join(missing[:5])}"
                      f"{'...' if len(missing) > 5 else ''}); the scores below cover the others only.", ""]
        if probe is not None and not probe.empty and summary["complete"]:
            lines += probe_section(compare_with_probe(predictions, probe, n_boot=n_boot, seed=spec.seed),
                                   "The nested procedure")
        lines += slice_section(folder, predictions, "nested", n_boot=n_boot, seed=spec.seed)
        choices = pd.Series(summary["chosen"], name="chosen configuration").rename_axis("held-out subject")
        choices.to_frame().to_csv(folder.file("nested_choices.csv"))
        counts = choices.value_counts()
        lines += ["## Configurations chosen by the outer folds", "",
                  "| chosen inside the fold | outer folds |", "|---|---:|"]
        lines += [f"| {cid} | {n} |" for cid, n in counts.items()]
        lines += ["", "Per fold: `nested_choices.csv`; each inner search: `nested/<subject>/` "
                  "(its own `optuna.db` and configurations).", ""]
    write_text(folder.report, "\n".join(lines) + "\n")
    return folder.report
