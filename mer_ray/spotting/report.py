"""A spotting run's outputs: the MEGC table, the per-subject table, ``intervals.csv``, ``report.md`` and one
timeline PNG per video (spotting score over time, ground truth, spotted intervals marked hit / false)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

from mer_ray.spotting.intervals import Interval, SpottingResult, evaluate_spotting, match_video

ROWS = ("micro", "macro", "overall")


def megc_rows(result: SpottingResult) -> list[dict]:
    """One row per kind (micro, macro, overall): TP / FP / FN pooled over all videos, P / R / F1."""
    table = result.as_dict()
    return [{"kind": kind, **{key: table[kind][key] for key in ("tp", "fp", "fn", "precision", "recall", "f1")}}
            for kind in ROWS]


def format_megc(result: SpottingResult) -> str:
    """The MEGC table as fixed-width text (the terminal's)."""
    lines = [f"{'':8} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'F1':>6}"]
    for row in megc_rows(result):
        lines.append(f"{row['kind']:8} {row['tp']:4d} {row['fp']:4d} {row['fn']:4d} {row['precision']:9.3f} "
                     f"{row['recall']:7.3f} {row['f1']:6.3f}")
    return "\n".join(lines)


def per_subject(spotted: Mapping[str, list[Interval]], truth: Mapping[str, list[Interval]],
                subject_of: Mapping[str, str]) -> list[dict]:
    rows = []
    for subject in sorted(set(subject_of[k] for k in spotted)):
        keys = [k for k in spotted if subject_of[k] == subject]
        r = evaluate_spotting({k: spotted[k] for k in keys}, {k: truth.get(k, []) for k in keys})
        rows.append({"subject": subject, "videos": len(keys), "truth": sum(len(truth.get(k, [])) for k in keys),
                     "spotted": sum(len(spotted[k]) for k in keys), "tp": r.overall.tp, "fp": r.overall.fp,
                     "fn": r.overall.fn, "micro_f1": r.micro.f1, "macro_f1": r.macro.f1, "f1": r.overall.f1})
    return rows


def write_intervals_csv(path: Path, spotted: Mapping[str, list[Interval]], truth: Mapping[str, list[Interval]],
                        subject_of: Mapping[str, str], fps: float) -> None:
    """One row per spotted interval: video, subject, fold (the held-out subject), kind, onset / offset in frames
    and seconds, score, and whether it matched a ground-truth interval (IoU >= 0.5, MEGC matching)."""
    from mer_ray.infra.atomic import atomic_path

    columns = ("video", "subject", "fold", "kind", "onset", "offset", "onset_s", "offset_s", "score", "hit", "iou")
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for key in sorted(spotted):
            hits = _hits(spotted[key], truth.get(key, []))
            for i, s in enumerate(spotted[key]):
                writer.writerow({"video": key, "subject": subject_of[key], "fold": subject_of[key], "kind": s.kind,
                                 "onset": s.onset, "offset": s.offset, "onset_s": round((s.onset - 1) / fps, 3),
                                 "offset_s": round(s.offset / fps, 3), "score": round(s.score, 5),
                                 "hit": i in hits, "iou": round(hits.get(i, 0.0), 3)})


def _hits(spotted: Sequence[Interval], truth: Sequence[Interval]) -> dict[int, float]:
    """Spotted index -> IoU of its match, for the spotted intervals that are true positives (kind by kind)."""
    out = {}
    for kind in ("micro", "macro"):
        sp = [(i, s) for i, s in enumerate(spotted) if s.kind in (kind, None)]
        gt = [g for g in truth if g.kind == kind]
        for a, _, value in match_video([s for _, s in sp], gt).pairs:
            out[sp[a][0]] = value
    return out


def timeline_png(path: Path, title: str, curves: Mapping[str, Sequence[float | None]], truth: Sequence[Interval],
                 spotted: Sequence[Interval], fps: float, first_frame: int = 1) -> Path:
    """The spotting score(s) over time (seconds), the ground-truth intervals and the spotted ones (green: a hit,
    grey: a false spot; micro above, macro below), as a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax, bars) = plt.subplots(2, 1, figsize=(12, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    for (name, values), colour in zip(curves.items(), ("tab:purple", "tab:orange", "tab:cyan")):
        y = np.array([np.nan if v is None else v for v in values], dtype=float)
        t = (np.arange(y.size) + first_frame - 1) / fps
        ax.plot(t, y, lw=0.9, color=colour, label=name)
    for g in truth:
        ax.axvspan((g.onset - 1) / fps, g.offset / fps, color="tab:red" if g.kind == "micro" else "tab:blue",
                   alpha=0.12, lw=0)
    ax.set_ylabel("spotting score")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=10)
    hits = _hits(spotted, truth)
    rows = {"truth micro": 3, "spotted micro": 2, "truth macro": 1, "spotted macro": 0}
    for g in truth:
        row = rows[f"truth {g.kind}"]
        bars.broken_barh([((g.onset - 1) / fps, g.length / fps)], (row + 0.15, 0.7),
                         color="tab:red" if g.kind == "micro" else "tab:blue")
    for i, s in enumerate(spotted):
        row = rows[f"spotted {s.kind or 'micro'}"]
        bars.broken_barh([((s.onset - 1) / fps, s.length / fps)], (row + 0.15, 0.7),
                         color="tab:green" if i in hits else "0.6")
    bars.set_yticks([v + 0.5 for v in rows.values()], list(rows))
    bars.tick_params(axis="y", labelsize=8)
    bars.set_ylim(0, 4)
    bars.set_xlabel("time (s)   spotted: green = hit (IoU >= 0.5), grey = false spot")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _f(x: float) -> str:
    return f"{x:.3f}"


def report_markdown(*, search: str, description: str, dataset: str, root: str, fps: float,
                    result: SpottingResult, subjects: list[dict], folds: list[dict], skips: list[str],
                    n_videos: int, truth_counts: dict, seconds: float, timelines: list[str]) -> str:
    lines = [f"# Spotting run: `{search}`", "",
             f"{description}.", "",
             f"Data: {dataset} at `{root}` ({n_videos} videos, {fps:g} fps; ground truth: {truth_counts['micro']} "
             f"micro, {truth_counts['macro']} macro intervals). Leave-one-subject-out: every held-out subject's "
             "settings were chosen on the other subjects only. MEGC protocol: IoU >= 0.5, one-to-one matching, "
             "TP / FP / FN pooled over all videos.", "",
             "## MEGC table", "",
             "| | TP | FP | FN | precision | recall | F1 |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in megc_rows(result):
        lines.append(f"| {row['kind']} | {row['tp']} | {row['fp']} | {row['fn']} | {_f(row['precision'])} | "
                     f"{_f(row['recall'])} | **{_f(row['f1'])}** |" if row["kind"] == "overall" else
                     f"| {row['kind']} | {row['tp']} | {row['fp']} | {row['fn']} | {_f(row['precision'])} | "
                     f"{_f(row['recall'])} | {_f(row['f1'])} |")
    lines += ["", "## Per subject (each one its own fold)", "",
              "| subject | videos | truth | spotted | TP | FP | FN | micro F1 | macro F1 | overall F1 | train F1 | "
              "settings chosen on the other subjects |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    by_subject = {f["subject"]: f for f in folds}
    for row in subjects:
        fold = by_subject.get(row["subject"], {})
        lines.append(f"| {row['subject']} | {row['videos']} | {row['truth']} | {row['spotted']} | {row['tp']} | "
                     f"{row['fp']} | {row['fn']} | {_f(row['micro_f1'])} | {_f(row['macro_f1'])} | {_f(row['f1'])} | "
                     f"{_f(fold.get('train_f1', float('nan')))} | `{fold.get('settings', {})}` |")
    lines += ["", "## Skipped", ""]
    lines += [f"- {s}" for s in skips] if skips else ["Nothing was skipped."]
    if timelines:
        lines += ["", "## Timelines", "", "Spotting score over time, ground truth (red: micro, blue: macro) and the "
                  "spotted intervals (green: a hit, grey: a false spot), one PNG per video in `timelines/`:", ""]
        lines += [f"![{Path(t).stem}]({t})" for t in timelines[:4]]
        if len(timelines) > 4:
            lines.append(f"\n... and {len(timelines) - 4} more in `timelines/`.")
    lines += ["", f"Wall time of the run: {seconds:.0f} s.", ""]
    return "\n".join(lines)
