"""Prediction sets from anywhere: a mer-ray run folder or a lab's own CSV, validated into one frame.

The frame has one row per clip: ``dataset``, ``subject`` (namespaced ``dataset/subject``), ``sample``, ``y_true``,
``y_pred`` and, when given, ``scores``. Everything that scores or compares predictions reads this form, so a
method run elsewhere is judged by the same pooled rules as a run here.

CSV columns: ``dataset, subject, y_true, y_pred`` and optionally ``sample`` (the clip's name; default: its
position among the subject's rows, so two CSVs without it must list each subject's clips in the same order) and
``scores`` (a JSON list per row). Labels are 0 / 1 / 2 or the class names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mer_ray.evaluation.metrics import CLASS_NAMES, CLASSES
from mer_ray.search.run_folder import RunFolder

REQUIRED = ("dataset", "subject", "y_true", "y_pred")


class PredictionsError(ValueError):
    """A prediction set that cannot be scored honestly; the message names the file and the row."""


def _label(value, path: Path, row: int, column: str) -> int:
    text = str(value).strip().lower()
    if text in CLASS_NAMES:
        return CLASS_NAMES.index(text)
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if number in CLASSES and number == int(number):
        return int(number)
    raise PredictionsError(f"{path}: row {row}: {column}={value!r} is not a label; expected one of "
                           f"{list(CLASSES)} or {list(CLASS_NAMES)}")


def read_predictions_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate a predictions CSV (see the module docstring).

    Raises:
        PredictionsError: a missing column, an unknown label, a duplicate clip, a subject in two datasets.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise PredictionsError(f"{path}: not a readable CSV ({err})") from err
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise PredictionsError(f"{path}: missing columns {missing}; expected {list(REQUIRED)} "
                               f"(+ optional sample, scores), found {list(raw.columns)}")
    if raw.empty:
        raise PredictionsError(f"{path}: no rows")
    rows = []
    seen_subject: dict[str, tuple[str, int]] = {}
    positions: dict[str, int] = {}
    for i, r in enumerate(raw.to_dict("records"), start=2):  # row 1 is the header
        dataset, subject = r["dataset"].strip().lower(), r["subject"].strip()
        if not dataset or not subject:
            raise PredictionsError(f"{path}: row {i}: empty dataset or subject")
        bare = subject.split("/", 1)[1] if subject.startswith(f"{dataset}/") else subject
        if "/" in bare:
            raise PredictionsError(f"{path}: row {i}: subject {subject!r} is namespaced by another dataset "
                                   f"than {dataset!r}")
        if bare in seen_subject and seen_subject[bare][0] != dataset:
            first_dataset, first_row = seen_subject[bare]
            raise PredictionsError(f"{path}: row {i}: subject {bare!r} appears in datasets {first_dataset!r} "
                                   f"(row {first_row}) and {dataset!r}; give each dataset's subjects distinct ids")
        seen_subject.setdefault(bare, (dataset, i))
        key = f"{dataset}/{bare}"
        sample = r.get("sample", "").strip() or f"{key}/#{positions.get(key, 0)}"
        positions[key] = positions.get(key, 0) + 1
        row = {"dataset": dataset, "subject": key, "sample": sample,
               "y_true": _label(r["y_true"], path, i, "y_true"), "y_pred": _label(r["y_pred"], path, i, "y_pred")}
        if r.get("scores", "").strip():
            try:
                row["scores"] = [float(v) for v in json.loads(r["scores"])]
            except (ValueError, TypeError) as err:
                raise PredictionsError(f"{path}: row {i}: scores {r['scores']!r} is not a JSON list of numbers") \
                    from err
        rows.append(row)
    frame = pd.DataFrame(rows)
    duplicated = frame["sample"].duplicated()
    if duplicated.any():
        first = int(duplicated.to_numpy().argmax())
        raise PredictionsError(f"{path}: row {first + 2}: clip {frame['sample'].iloc[first]!r} appears twice; "
                               "each clip must be predicted exactly once")
    return frame


def run_predictions(run: str | Path, config_id: str | None = None) -> tuple[pd.DataFrame, str]:
    """The predictions of a run folder: its best configuration (or ``config_id``; a nested run's outer ones)."""
    folder = RunFolder(run)
    if not folder.predictions.is_file():
        raise PredictionsError(f"{folder.predictions} not found: {folder.root} is not a finished mer-ray run")
    frame = pd.read_parquet(folder.predictions)
    if config_id is None:
        if folder.leaderboard_csv.is_file():
            board = pd.read_csv(folder.leaderboard_csv)
            done = board[board["state"] == "COMPLETE"] if "state" in board else board
            config_id = str(done.iloc[0]["config_id"]) if not done.empty else None
        config_id = config_id or str(frame["config_id"].iloc[0])
    chosen = frame[frame["config_id"] == config_id]
    if chosen.empty:
        raise PredictionsError(f"{folder.root}: no predictions of configuration {config_id!r}; it has "
                               f"{sorted(frame['config_id'].unique())}")
    return chosen.reset_index(drop=True), f"{folder.root.name}:{config_id}"


def load_predictions(source: str) -> tuple[pd.DataFrame, str]:
    """``RUN``, ``RUN:c003`` or ``PRED.csv`` -> (predictions, label)."""
    path = Path(source)
    if path.suffix.lower() == ".csv":
        return read_predictions_csv(path), path.name
    run, _, config_id = source.partition(":") if not path.exists() else (source, "", "")
    return run_predictions(run, config_id or None)
