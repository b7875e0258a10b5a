"""The report of an AU detection run (``python -m mer_ray.loso --task au``): ``report.md`` and the terminal tables.

Per configuration the mean over the AUs of the pooled per-AU F1 (macro over present / absent, and binary present),
per dataset (per held-out dataset under ``--protocol lodo``); for the best one the per-AU table with the linear
probe beside it, the paired subject-bootstrap interval of the difference in mean macro F1, the AUs skipped per
fold, and a portfolio's members. Under ``--repeats N`` (one fixed configuration trained N times with other seeds):
each repeat's mean F1, their mean +- std, each AU's F1 mean +- std over the repeats, and the paired interval of the
mean over the repeats against the probe (:class:`AuRepeatsSummary`); the first repeat is shown in detail. Scores:
:mod:`mer_ray.evaluation.au_task`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mer_ray.evaluation import au_task
from mer_ray.evaluation.report import (
    describe_config,
    folds_word,
    format_table,
    markdown_table,
    mean_std,
    protocol_lines,
    spread,
)
from mer_ray.infra.atomic import write_text
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec


def au_table(board: pd.DataFrame) -> pd.DataFrame:
    """Configuration, mean F1 macro / binary over the AUs, and per dataset; best (by mean macro F1) first."""
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    if done.empty or "f1_macro" not in done:
        return pd.DataFrame(columns=["config", "description", "F1 macro", "F1 binary"])
    done = done.sort_values("f1_macro", ascending=False)
    columns = {"config": done["config_id"], "description": done.apply(describe_config, axis=1),
               "F1 macro": done["f1_macro"], "F1 binary": done["f1_binary"]}
    for dataset in sorted(c[len("n_"):] for c in done.columns if c.startswith("n_")):
        columns[f"{dataset} F1 macro"] = done[f"f1_macro_{dataset}"]
        columns[f"{dataset} F1 binary"] = done[f"f1_binary_{dataset}"]
    return pd.DataFrame(columns).reset_index(drop=True)


@dataclass(frozen=True)
class AuProbeComparison:
    """Mean macro F1 of a model and of the probe on the same clips, with the paired subject-bootstrap interval."""

    model: float
    probe: float
    difference: float
    low: float
    high: float
    binary: tuple[float, float]  # mean binary F1: (model, probe)

    def sentence(self, label: str) -> str:
        interval = f"paired 95% CI [{self.low:+.3f}, {self.high:+.3f}]"
        binary = f"; mean binary F1 {self.binary[0]:.4f} vs {self.binary[1]:.4f}"
        if self.difference < 0:
            return (f"{label} does NOT reach the linear probe: mean macro F1 {self.model:.4f} vs the probe's "
                    f"{self.probe:.4f} ({self.difference:+.4f}, {interval}){binary}.")
        certain = "the interval excludes 0" if self.low > 0 else "the interval includes 0: not a clear win"
        return (f"{label} reaches the linear probe's mean macro F1 ({self.model:.4f} vs {self.probe:.4f}, "
                f"{self.difference:+.4f}; {interval}: {certain}){binary}.")


def compare_with_probe(predictions: pd.DataFrame, probe: pd.DataFrame, *, n_boot: int = 1000,
                       seed: int = 0) -> AuProbeComparison:
    diff, low, high = au_task.paired_bootstrap(predictions, probe, metric="f1_macro", n_boot=n_boot, seed=seed)
    mine = au_task.pooled(au_task.stacked(predictions["y_true"]), au_task.stacked(predictions["y_pred"]))
    theirs = au_task.pooled(au_task.stacked(probe["y_true"]), au_task.stacked(probe["y_pred"]))
    return AuProbeComparison(mine["f1_macro"], theirs["f1_macro"], diff, low, high,
                             (mine["f1_binary"], theirs["f1_binary"]))


@dataclass(frozen=True)
class AuRepeatsSummary:
    """One configuration trained several times with other seeds under ``--task au`` (``--repeats``).

    Attributes:
        ids: the repeats' configuration ids.
        f1_macro, f1_binary: each repeat's mean over the AUs scored of the pooled per-AU F1.
        per_au: one row per AU: ``AU``, ``positives``, ``folds skipped`` (the repeats' values, one if they agree),
            ``F1 macro`` / ``F1 binary`` (tuples, one value per repeat; NaN where the AU was scored in no fold).
        probe_per_au: the probe's :func:`~mer_ray.evaluation.au_task.per_au_table` (None without a probe).
        versus: the mean over the repeats of the mean macro F1 against the probe's, with the paired interval that
            draws the same subjects for every repeat and the probe (None without a probe).
    """

    ids: tuple[str, ...]
    f1_macro: tuple[float, ...]
    f1_binary: tuple[float, ...]
    per_au: pd.DataFrame
    probe_per_au: pd.DataFrame | None = None
    versus: AuProbeComparison | None = None

    def sentence(self) -> str:
        text = (f"mean macro F1 {spread(self.f1_macro)}, mean binary F1 {spread(self.f1_binary)} (mean over the AUs "
                f"scored; mean +- std over {len(self.ids)} repeats)")
        if self.versus is not None:
            v = self.versus
            text += (f"; against the linear probe ({v.probe:.4f}) {v.difference:+.4f} mean macro F1 (paired 95% CI "
                     f"[{v.low:+.3f}, {v.high:+.3f}], the same subjects drawn for every repeat and the probe)")
        return text

    def per_au_lines(self) -> list[str]:
        """The per-AU table: each AU's F1 mean +- std over the repeats, the probe's F1 beside it, the mean row."""
        probe = self.probe_per_au.set_index("AU") if self.probe_per_au is not None else None
        probe_mean = (_cell(self.versus.probe), _cell(self.versus.binary[1])) \
            if probe is not None and self.versus is not None else None
        return per_au_lines(self.per_au, spread, probe, (spread(self.f1_macro), spread(self.f1_binary)), probe_mean,
                            suffix=" (mean +- std)")

    def section(self, n_boot: int = 1000) -> list[str]:
        rows = [f"| `{c}` | {_cell(m)} | {_cell(b)} |" for c, m, b in zip(self.ids, self.f1_macro, self.f1_binary)]
        lines = [f"## Repeats: {len(self.ids)} trainings of one configuration with other seeds", "",
                 "Each repeat's mean over the AUs scored of the pooled per-AU F1 (all folds' predictions "
                 "concatenated; an AU skipped in a fold leaves that fold out of its F1). Mean +- std: over the "
                 "repeats (sample standard deviation).", "",
                 "| repeat | mean F1 macro | mean F1 binary |", "|---|---:|---:|", *rows,
                 f"| **mean +- std** | **{spread(self.f1_macro)}** | **{spread(self.f1_binary)}** |", "",
                 "### Per AU over the repeats", "", *self.per_au_lines(), "",
                 "positives: held-out clips coding the AU, over all folds; folds skipped: folds where the AU had too "
                 "few training positives (its predictions there are not scored); the probe: one run.", ""]
        sentence = self.sentence()
        lines += [sentence[0].upper() + sentence[1:] + ".", ""]
        if self.versus is not None:
            lines += ["## Against the linear probe", "",
                      "The probe (masked (u, v) flow pooled to 16x16, standardised, one logistic regression per AU "
                      "with C chosen on the training subjects) ran on the same folds. "
                      + self.versus.sentence(f"The mean over the {len(self.ids)} repeats")
                      + f" The paired interval resamples whole subjects, the same for every repeat and the probe "
                      f"({n_boot} resamples).", ""]
        return lines


def _cell(value: float) -> str:
    return "-" if value is None or np.isnan(value) else f"{value:.4f}"


def au_repeats_summary(board: pd.DataFrame, predictions: pd.DataFrame, probe: pd.DataFrame | None,
                       task: au_task.AuTask, *, n_boot: int = 1000, seed: int = 0) -> AuRepeatsSummary:
    """The :class:`AuRepeatsSummary` of every completed configuration of ``board`` (the repeats of a fixed one)."""
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    ids = tuple(sorted(done["config_id"]))
    frames = [predictions[predictions["config_id"] == c] for c in ids]
    scores = [au_task.pooled(au_task.stacked(f["y_true"]), au_task.stacked(f["y_pred"])) for f in frames]
    tables = [au_task.per_au_table(f, task) for f in frames]
    rows = []
    for k, name in enumerate(task.names):
        skipped = list(dict.fromkeys(t.iloc[k]["folds skipped"] for t in tables))  # the same in every repeat
        rows.append({"AU": name, "positives": int(tables[0].iloc[k]["positives"]) if tables else 0,
                     "F1 macro": tuple(float(t.iloc[k]["F1 macro"]) for t in tables),
                     "F1 binary": tuple(float(t.iloc[k]["F1 binary"]) for t in tables),
                     "folds skipped": " / ".join(skipped)})
    per_au = pd.DataFrame(rows, columns=["AU", "positives", "F1 macro", "F1 binary", "folds skipped"])
    macro = tuple(s["f1_macro"] for s in scores)
    binary = tuple(s["f1_binary"] for s in scores)
    probe_table, versus = None, None
    if probe is not None and not probe.empty and frames:
        probe_table = au_task.per_au_table(probe, task)
        theirs = au_task.pooled(au_task.stacked(probe["y_true"]), au_task.stacked(probe["y_pred"]))
        diff, low, high = au_task.repeated_paired_bootstrap(frames, probe, metric="f1_macro", n_boot=n_boot, seed=seed)
        versus = AuProbeComparison(mean_std(macro)[0], theirs["f1_macro"], diff, low, high,
                                   (mean_std(binary)[0], theirs["f1_binary"]))
    return AuRepeatsSummary(ids, macro, binary, per_au, probe_table, versus)


def per_au_section(best: pd.DataFrame, probe: pd.DataFrame | None, task: au_task.AuTask) -> list[str]:
    """The per-AU table of the best configuration (the probe's F1 beside it) and its mean row."""
    table = au_task.per_au_table(best, task)
    mean = au_task.pooled(au_task.stacked(best["y_true"]), au_task.stacked(best["y_pred"]))
    probe_rows = probe_mean = None
    if probe is not None and not probe.empty:
        probe_rows = au_task.per_au_table(probe, task).set_index("AU")
        pooled = au_task.pooled(au_task.stacked(probe["y_true"]), au_task.stacked(probe["y_pred"]))
        probe_mean = (_cell(pooled["f1_macro"]), _cell(pooled["f1_binary"]))
    return per_au_lines(table, _cell, probe_rows, (_cell(mean["f1_macro"]), _cell(mean["f1_binary"])), probe_mean)


def per_au_lines(table: pd.DataFrame, cell, probe_rows: pd.DataFrame | None, mean: tuple[str, str],
                 probe_mean: tuple[str, str] | None, suffix: str = "") -> list[str]:
    """A per-AU table: AU, positives, F1 macro / binary (formatted by ``cell``), folds skipped, the probe's F1
    beside them when ``probe_rows`` (indexed by AU) is given, then the bold mean row (cells already formatted)."""
    header = f"| AU | positives | F1 macro{suffix} | F1 binary{suffix} | folds skipped |"
    rule = "|---|---:|---:|---:|---:|"
    if probe_rows is not None:
        header += " probe F1 macro | probe F1 binary |"
        rule += "---:|---:|"
    lines = [header, rule]
    for _, row in table.iterrows():
        line = (f"| {row['AU']} | {row['positives']} | {cell(row['F1 macro'])} | {cell(row['F1 binary'])} | "
                f"{row['folds skipped']} |")
        if probe_rows is not None:
            other = probe_rows.loc[row["AU"]]
            line += f" {_cell(other['F1 macro'])} | {_cell(other['F1 binary'])} |"
        lines.append(line)
    line = f"| **mean** | | **{mean[0]}** | **{mean[1]}** | |"
    if probe_mean is not None:
        line += f" **{probe_mean[0]}** | **{probe_mean[1]}** |"
    return lines + [line]


def dataset_section(best: pd.DataFrame, probe: pd.DataFrame | None, *, lodo: bool, n_boot: int,
                    seed: int) -> list[str]:
    """Composite and per-dataset mean F1 with subject-bootstrap intervals (rows per held-out dataset under lodo)."""
    first = "held-out dataset" if lodo else "slice"
    header = f"| {first} | n | mean F1 macro [95% CI] | mean F1 binary [95% CI] |"
    rule = "|---|---:|---:|---:|"
    if probe is not None and not probe.empty:
        header += " probe F1 macro | probe F1 binary |"
        rule += "---:|---:|"
    lines = [header, rule]
    per_dataset = [(str(d), part) for d, part in best.groupby("dataset", sort=True)]
    slices = [("composite", best)] + (per_dataset if len(per_dataset) > 1 else [])  # one dataset: the same row
    for name, part in slices:
        s = au_task.pooled(au_task.stacked(part["y_true"]), au_task.stacked(part["y_pred"]))
        macro = au_task.bootstrap_ci(part, metric="f1_macro", n_boot=n_boot, seed=seed)
        binary = au_task.bootstrap_ci(part, metric="f1_binary", n_boot=n_boot, seed=seed)
        line = (f"| {name} | {s['n']} | {s['f1_macro']:.4f} [{macro[0]:.3f}, {macro[1]:.3f}] | "
                f"{s['f1_binary']:.4f} [{binary[0]:.3f}, {binary[1]:.3f}] |")
        if probe is not None and not probe.empty:
            theirs = probe if name == "composite" else probe[probe["dataset"] == name]
            p = au_task.pooled(au_task.stacked(theirs["y_true"]), au_task.stacked(theirs["y_pred"]))
            line += f" {p['f1_macro']:.4f} | {p['f1_binary']:.4f} |"
        lines.append(line)
    return lines


def skipped_section(folder: RunFolder, config_id: str | list[str]) -> list[str]:
    """The AUs each fold skipped, and why (the folds' records); of several configurations (the repeats of
    ``--repeats``), a row per skip with the repeats that made it when they do not all agree."""
    ids = [config_id] if isinstance(config_id, str) else list(config_id)
    made: dict[tuple[str, str, str], list[str]] = {}
    for cid in ids:
        for fold, details in folder.fold_details(cid).items():
            for name, why in (details.get("au") or {}).get("skipped", {}).items():
                made.setdefault((str(fold), str(name), str(why)), []).append(cid)
    if not made:
        return ["No AU was skipped in any fold" + (" of any repeat." if len(ids) > 1 else "."), ""]
    if all(len(by) == len(ids) for by in made.values()):
        rows = [f"| {fold} | {name} | {why} |" for fold, name, why in made]
        note = ([f"Every one of the {len(ids)} repeats skipped these (the rule reads only the fold's training "
                 "clips).", ""] if len(ids) > 1 else [])
        return ["| fold | AU skipped | why |", "|---|---|---|", *rows, "", *note]
    rows = [f"| {fold} | {name} | {why} | {', '.join(by)} |" for (fold, name, why), by in made.items()]
    return ["| fold | AU skipped | why | repeats |", "|---|---|---|---|", *rows, ""]


def member_frames(predictions: pd.DataFrame, details: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """A portfolio's parts under the AU task: the combination and each member (its held-out probabilities
    thresholded at 0.5; the AUs the fold skipped stay skipped)."""
    frames = {"combination": predictions}
    members = next(iter(details.values()))["portfolio"]["members"] if details else []
    for name in members:
        by_sample = {sid: row for d in details.values() for sid, row in zip(d["sample_ids"], d["member_scores"][name])}
        frame = predictions.copy()
        probs = np.asarray([by_sample[sid] for sid in frame["sample"]], dtype=np.float64)
        skipped = au_task.stacked(frame["y_pred"]) == au_task.SKIPPED
        frame["y_pred"] = list(np.where(skipped, au_task.SKIPPED, (np.nan_to_num(probs) > 0.5).astype(np.int64)))
        frames[name] = frame
    return frames


def portfolio_section(predictions: pd.DataFrame, details: dict[str, dict]) -> list[str]:
    details = {fold: d for fold, d in details.items() if "portfolio" in d}
    if not details:
        return []
    lines = ["## Portfolio: members and combination", "", "| part | mean F1 macro | mean F1 binary |", "|---|---|---|"]
    for name, frame in member_frames(predictions, details).items():
        s = au_task.pooled(au_task.stacked(frame["y_true"]), au_task.stacked(frame["y_pred"]))
        lines.append(f"| {name} | {s['f1_macro']:.4f} | {s['f1_binary']:.4f} |")
    first = next(iter(details.values()))["portfolio"]
    members = first["members"]
    lines += ["", "Weights fitted per fold on inner subject-wise folds of the training subjects by class-balanced "
              "binary cross-entropy of the out-of-fold AU probabilities (temperatures in brackets):", "",
              "| fold | " + " | ".join(members) + " | inner mean F1 macro (combination) |",
              "|---|" + "---|" * (len(members) + 1)]
    for fold, d in details.items():
        rec = d["portfolio"]
        cells = [f"{rec['weights'][m]:.2f} [{rec['temperatures'][m]:.2g}]" for m in members]
        lines.append(f"| {fold} | " + " | ".join(cells) + f" | {rec['inner']['combination']['f1_macro']:.3f} |")
    mean = {m: np.mean([d["portfolio"]["weights"][m] for d in details.values()]) for m in members}
    lines += ["| mean | " + " | ".join(f"{mean[m]:.2f}" for m in members) + " | |", ""]
    return lines


def task_lines(spec: RunSpec) -> list[str]:
    task = spec.au_task()
    how = ("given by --aus" if "--aus" in " ".join(spec.argv) else
           f"the {len(task.aus)} most frequent AUs over every clip of the features (at most {au_task.DEFAULT_AUS})")
    dropped = f" {spec.dropped_clips} clips without an AU code were left out." if spec.dropped_clips else ""
    return [f"Task: **AU detection**, multi-label, {len(task.aus)} AUs ({', '.join(task.names)}): {how}, fixed "
            "before any fold from the sheets' AU codes. Per AU, F1 macro (the mean of the F1 of present and of "
            "absent) and F1 binary (present), predictions of all folds pooled; an AU with fewer than "
            f"{task.min_positives} positive (or negative) training clips in a fold is skipped in that fold (its "
            "predictions there leave its pooled F1; it is not scored 0). Means are over the AUs scored." + dropped,
            ""]


def write_au_report(folder: RunFolder, board: pd.DataFrame, predictions: pd.DataFrame, spec: RunSpec, *,
                    probe: pd.DataFrame | None = None, n_boot: int = 1000) -> object:
    """Write ``report.md`` of an AU detection run; returns its path."""
    task = spec.au_task()
    table = au_table(board)
    lodo = spec.protocol == "lodo"
    lines = [f"# {'Cross-dataset' if lodo else 'LOSO'} report (AU detection): search space `{spec.space}`", "",
             *protocol_lines(spec), *task_lines(spec),
             f"Features: `{spec.features}`. Objective told to Optuna: the mean over the AUs of the pooled "
             f"{'macro' if spec.objective == 'f1_macro' else 'binary'} F1 of each configuration over all its "
             f"{folds_word(spec)}.", ""]
    if table.empty:
        lines.append("No configuration completed all its folds: see the failures in `leaderboard.csv`.")
        write_text(folder.report, "\n".join(lines) + "\n")
        return folder.report
    shown = table
    if probe is not None and not probe.empty:
        p = au_task.au_scores(probe, task)
        row = {"config": "probe", "description": "linear probe (reference)", "F1 macro": p["f1_macro"],
               "F1 binary": p["f1_binary"]}
        for dataset in sorted(probe["dataset"].unique()):
            row[f"{dataset} F1 macro"] = p[f"f1_macro_{dataset}"]
            row[f"{dataset} F1 binary"] = p[f"f1_binary_{dataset}"]
        shown = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    lines += ["## Configurations (mean F1 over the AUs)", "", markdown_table(shown), ""]
    repeated = spec.repeats > 1
    # repeats of one configuration: the first one is shown in detail (picking the best seed would be optimistic)
    best_id = sorted(table["config"])[0] if repeated else table.iloc[0]["config"]
    best = predictions[predictions["config_id"] == best_id]
    row = board[board["config_id"] == best_id].iloc[0]
    if repeated:
        summary = au_repeats_summary(board, predictions, probe, task, n_boot=n_boot, seed=spec.seed)
        lines += summary.section(n_boot)
        lines += [f"## First repeat: `{best_id}`", "", describe_config(row), "",
                  "The per-AU and per-dataset tables below are the first repeat's.", ""]
    else:
        lines += [f"## Best configuration: `{best_id}`", "", describe_config(row), ""]
    if spec.trials > 1:
        lines += [f"> **Optimistic estimate.** `{best_id}` was picked as the best of {len(table)} configurations by a "
                  f"search over the SAME {folds_word(spec)}, so its score is biased upwards.", ""]
    if probe is not None and not probe.empty and not repeated:
        comparison = compare_with_probe(best, probe, n_boot=n_boot, seed=spec.seed)
        lines += ["## Against the linear probe", "",
                  "The probe (masked (u, v) flow pooled to 16x16, standardised, one logistic regression per AU with "
                  f"C chosen on the training subjects) ran on the same {folds_word(spec)}. "
                  + comparison.sentence(f"`{best_id}`") + " The paired interval resamples whole subjects, the same "
                  f"for both ({n_boot} resamples).", ""]
    lines += ["## Per AU", "", *per_au_section(best, probe, task), "",
              "positives: held-out clips coding the AU, over all folds; folds skipped: folds where the AU had too "
              "few training positives (its predictions there are not scored).", ""]
    heading = "## Scores per held-out dataset" if lodo else "## Scores per dataset"
    lines += [heading, ""]
    if lodo:
        lines += ["Each dataset row is one fold: trained on the other datasets' subjects, predicting every clip of "
                  "this dataset; `composite` pools the folds.", ""]
    lines += [*dataset_section(best, probe, lodo=lodo, n_boot=n_boot, seed=spec.seed), "",
              f"95% intervals: percentile bootstrap over subjects ({n_boot} resamples of whole subjects).", ""]
    lines += ["## AUs skipped per fold", "",
              *skipped_section(folder, list(summary.ids) if repeated else best_id)]
    lines += portfolio_section(best, folder.fold_details(best_id))
    write_text(folder.report, "\n".join(lines) + "\n")
    return folder.report


def print_au_results(board: pd.DataFrame, predictions: pd.DataFrame, spec: RunSpec,
                     probe: pd.DataFrame | None) -> bool:
    """The terminal's tables of an AU run; False when no configuration completed."""
    table = au_table(board)
    print()
    if table.empty:
        print("no configuration completed all its folds")
        return False
    print(format_table(table))
    if spec.repeats > 1:
        summary = au_repeats_summary(board, predictions, probe, spec.au_task(), seed=spec.seed)
        print(f"\n{len(summary.ids)} repeats of one configuration (other seeds): {summary.sentence()}")
        print("  per AU (F1 macro, mean +- std over the repeats): " + ", ".join(
            f"{r['AU']} {spread(r['F1 macro'])}" for _, r in summary.per_au.iterrows()))
        return True
    best = table.iloc[0]
    best_frame = predictions[predictions["config_id"] == best["config"]]
    note = " (optimistic: picked by the search over the same folds)" if spec.trials > 1 else ""
    print(f"\nbest configuration {best['config']}: mean over {len(spec.aus or [])} AUs: F1 macro "
          f"{best['F1 macro']:.4f}, F1 binary {best['F1 binary']:.4f}{note}")
    print(f"  {best['description']}")
    per_au = au_task.per_au_table(best_frame, spec.au_task())
    print("  per AU (F1 macro / binary): " + ", ".join(
        f"{r['AU']} {r['F1 macro']:.2f}/{r['F1 binary']:.2f}" for _, r in per_au.iterrows()))
    if probe is not None and not probe.empty:
        print("  " + compare_with_probe(best_frame, probe, seed=spec.seed).sentence(str(best["config"])))
    return True
