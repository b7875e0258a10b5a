"""The run folder: where every output of a LOSO or nested run lives, written atomically.

    RUN/run.json                            the run's RunSpec (``--resume`` reads it back)
    RUN/optuna.db                           the Optuna study (``optuna-dashboard sqlite:///RUN/optuna.db``)
    RUN/configs/<config_id>.json            the resolved configuration of each Optuna trial
    RUN/folds/<config_id>/<subject>.parquet the predictions of one finished fold
    RUN/trials.csv                          where each fold ran (node, process, seconds)
    RUN/tune/                               Ray Tune's storage_path (TensorBoard: ``tensorboard --logdir RUN/tune``)
    RUN/curves.csv, curves_<config_id>.png  every fold's per-epoch training curves; the best configuration's plot
    RUN/logs/driver.log, logs/ray           library log lines (the quiet console); this Ray session's own logs
    RUN/.lock                               held by the one process running the folder (``--resume`` waits for none)
    RUN/leaderboard.csv, predictions.parquet, report.md, confusion_*.png
    RUN/nested/<subject>/                   a nested run's inner search (this same layout) + final.parquet
    RUN/reference/probe/                    the linear probe on the same folds (this same layout)
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pandas as pd

from mer_ray.evaluation.folds import subject_filename
from mer_ray.infra.atomic import atomic_path, write_json

RUN_LOCK = ".lock"  # inside the run folder: held by the one process running it (or resuming it)


class RunFolder:
    """Paths and atomic reads / writes of one run folder (created on first use)."""

    RUN_JSON = "run.json"

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()  # absolute: Ray Tune changes the working directory

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # ---- layout ---------------------------------------------------------------------------------------

    @property
    def run_json(self) -> Path:
        return self.root / self.RUN_JSON

    @property
    def optuna_storage(self) -> str:
        return f"sqlite:///{self.root / 'optuna.db'}"

    @property
    def tune_dir(self) -> Path:
        return self.root / "tune"

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def leaderboard_csv(self) -> Path:
        return self.root / "leaderboard.csv"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.parquet"

    def config_path(self, config_id: str) -> Path:
        return self.root / "configs" / f"{config_id}.json"

    def fold_path(self, config_id: str, fold: str) -> Path:
        return self.root / "folds" / config_id / f"{subject_filename(fold)}.parquet"

    def details_path(self, config_id: str, fold: str) -> Path:
        """A fold's method-specific record (``FoldResult.details``: a portfolio's weights and members' scores)."""
        return self.root / "folds" / config_id / f"{subject_filename(fold)}.details.json"

    def nested(self, subject: str) -> RunFolder:
        """The inner search folder of outer subject ``subject`` in a nested run."""
        return RunFolder(self.root / "nested" / subject_filename(subject))

    def reference(self, name: str) -> RunFolder:
        """A reference method's own search folder (``RUN/reference/probe``: the linear probe on the same folds)."""
        return RunFolder(self.root / "reference" / name)

    @property
    def final_path(self) -> Path:
        """A nested inner folder's outer predictions (the chosen configuration refitted on the outer fold)."""
        return self.root / "final.parquet"

    def file(self, name: str) -> Path:
        """Any other file at the top of the run folder (report images, CSVs)."""
        return self.root / name

    # ---- reads and writes -----------------------------------------------------------------------------

    def make(self) -> RunFolder:
        for sub in ("configs", "folds"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return self

    def write_config(self, config_id: str, params: dict[str, Any]) -> None:
        write_json(self.config_path(config_id), params)

    def read_config(self, config_id: str) -> dict[str, Any] | None:
        path = self.config_path(config_id)
        return json.loads(path.read_text()) if path.is_file() else None

    def has_fold(self, config_id: str, fold: str) -> bool:
        return self.fold_path(config_id, fold).is_file()

    def write_fold(self, frame: pd.DataFrame, config_id: str, fold: str) -> None:
        write_parquet(frame, self.fold_path(config_id, fold))

    def write_fold_details(self, details: dict[str, Any], config_id: str, fold: str) -> None:
        write_json(self.details_path(config_id, fold), {"fold": fold, "details": details})

    def fold_details(self, config_id: str) -> dict[str, dict[str, Any]]:
        """Fold name -> ``FoldResult.details`` of every finished fold of ``config_id`` that recorded any."""
        out = {}
        for path in sorted((self.root / "folds" / config_id).glob("*.details.json")):
            record = json.loads(path.read_text())
            if self.has_fold(config_id, record["fold"]):
                out[record["fold"]] = record["details"]
        return out

    def fold_predictions(self, config_id: str) -> pd.DataFrame:
        """Every finished fold of ``config_id``, concatenated (empty if none)."""
        files = sorted((self.root / "folds" / config_id).glob("*.parquet"))
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()

    def config_ids_with_folds(self) -> list[str]:
        folds = self.root / "folds"
        return sorted(p.name for p in folds.iterdir() if p.is_dir()) if folds.is_dir() else []

    def count_folds(self) -> int:
        return sum(1 for _ in (self.root / "folds").glob("*/*.parquet"))


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as Parquet at ``path``, atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def new_run_folder(parent: Path, name: str) -> RunFolder:
    """A new, empty run folder ``parent/name``; when a run started in the same second took that name, the next
    free ``name-2``, ``name-3``, ... (``mkdir`` is atomic: two processes never get the same folder)."""
    parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        root = parent / (name if n == 1 else f"{name}-{n}")
        try:
            root.mkdir()
        except FileExistsError:
            continue
        return RunFolder(root)
    raise AssertionError("unreachable")
