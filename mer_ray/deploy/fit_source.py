"""What ``python -m mer_ray.fit`` fits, from its parsed command line: the source (``--from-run RUN`` with its
``--config``, or ``--search SPACE``; :class:`FitSource`), the features (a folder, or ``--dataset`` / the demo
preprocessed first), the configuration with ``--set`` and ``--smoke-test`` applied and the LOSO score that still
describes it (:func:`fit_params`), and the ``--out`` folder, refused when not empty.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer_ray.data.features import FeatureSet
from mer_ray.deploy.bundle_card import loso_figures
from mer_ray.infra.errors import UsageError, as_usage_error


@dataclass
class FitSource:
    """What to fit, before the features are loaded: a finished run's configuration or a space's fixed settings.

    Attributes:
        record: the bundle's ``source`` entry (kind, run or space, configuration id, ``--set`` values).
        features_dir: the features folder (None: ``--dataset`` or the demo, preprocessed first).
        subset: datasets to train on (None: all).
        params: the run's configuration (None: the space's, resolved once the features say demo or not).
        loso: the run's LOSO scores of that configuration (None: not measured).
        spec: the run's spec (``--from-run``).
        space: the search space (``--search``).
    """

    record: dict[str, Any]
    features_dir: Path | None
    subset: list[str] | None
    params: dict[str, Any] | None = None
    loso: dict[str, Any] | None = None
    spec: Any = None
    space: Any = None


def empty_out_folder(out: Path) -> Path:
    """``--out`` made absolute; refused when it exists and is not an empty folder (a bundle is never overwritten)."""
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} exists and is not empty; choose another folder")
    return out


def fit_source(args: argparse.Namespace, settings: dict[str, Any]) -> FitSource:
    """``--from-run RUN`` (its ``--config``) or ``--search SPACE``, checked before any preprocessing."""
    if args.from_run:
        spec, config_id, params, loso = config_from_run(args.from_run, args.config)
        record = {"kind": "run", "run": str(args.from_run.expanduser().resolve()), "config_id": config_id,
                  "space": spec.space, "settings": settings}
        return FitSource(record, args.features or Path(spec.features), args.subset or spec.subset, params, loso,
                         spec=spec)
    from mer_ray.search.settings import resolve_config
    from search_spaces import get_space

    space = get_space(args.search)
    resolve_config(space, settings)  # an unknown key fails before any preprocessing
    return FitSource({"kind": "space", "space": args.search, "settings": settings}, args.features, args.subset,
                     space=space)


def load_fit_features(args: argparse.Namespace, source: FitSource) -> FeatureSet:
    """The features to fit on: the source's folder, else ``--dataset`` (or the demo) preprocessed first on a local
    Ray."""
    from mer_ray.data.features import load_features

    features_dir = source.features_dir
    if features_dir is None:
        from mer_ray.infra.runtime import init_ray
        from preprocessing.features.prepare import resolve_features

        init_ray(None)
        with as_usage_error(ValueError, RuntimeError):
            features_dir = resolve_features(None, args.dataset, args.dataset_option, args.protocol,
                                            smoke_test=args.smoke_test)
    return load_features(features_dir, datasets=source.subset)


def fit_params(args: argparse.Namespace, source: FitSource, settings: dict[str, Any],
               features: FeatureSet) -> tuple[dict[str, Any], dict[str, Any] | None, list[str]]:
    """``(params, loso, notes)``: the configuration to fit (``--set`` and ``--smoke-test`` applied), the LOSO
    scores that still describe it (None when ``--set`` changed it) and the notes the bundle records."""
    from mer_ray.methods import with_overrides

    notes: list[str] = []
    loso = source.loso
    if source.params is None:
        from mer_ray.search.settings import resolve_config

        params = resolve_config(source.space, settings, demo=features.is_demo)
        if features.is_demo and source.space.demo_fixed:
            notes.append(f"demo data: the space's CPU-sized demo variant ({source.space.demo_changes()})")
    else:
        changed = {k: v for k, v in settings.items() if source.params.get(k) != v}
        params = with_overrides(source.params, settings, strict=True)
        if changed and loso is not None:
            notes.append(f"--set changed {changed} from the run's configuration {source.record['config_id']}: its "
                         f"LOSO score ({loso_figures(loso)}) does not apply to this bundle")
            loso = None
        run_features = source.spec.features
        if loso is not None and args.features and Path(args.features).resolve() != Path(run_features).resolve():
            notes.append(f"fitted on {Path(args.features).resolve()}, while the LOSO score was measured on "
                         f"{run_features}")
    if args.smoke_test:
        from mer_ray.search.spec import SMOKE_OVERRIDES

        params = with_overrides(params, SMOKE_OVERRIDES)
        notes.append(f"--smoke-test limits: {SMOKE_OVERRIDES}")
    return params, loso, notes


def config_from_run(run: Path, wanted: str) -> tuple[Any, str, dict[str, Any], dict[str, Any] | None]:
    """``(spec, config_id, params, loso)`` of configuration ``wanted`` (or the best) of a finished run."""
    import pandas as pd

    from mer_ray.search.run_folder import RunFolder
    from mer_ray.search.spec import RunSpec

    folder = RunFolder(run)
    if not folder.run_json.is_file():
        raise UsageError(f"--from-run {folder.root}: {folder.run_json.name} not found (not a mer_ray.loso run folder)")
    spec = RunSpec.from_json(folder.run_json)
    if spec.nested:
        raise UsageError(f"--from-run {folder.root} is a nested run: each outer fold chose its own configuration; "
                        "fit one with --search SPACE --set KEY=VALUE, or from a plain LOSO run")
    board = pd.read_csv(folder.leaderboard_csv) if folder.leaderboard_csv.is_file() else pd.DataFrame()
    done = board[board["state"] == "COMPLETE"] if "state" in board else board
    if wanted == "best":
        if done.empty or spec.objective not in done:
            raise UsageError(f"--from-run {folder.root}: no configuration completed all its folds (no leaderboard)")
        row = done.sort_values(spec.objective, ascending=False).iloc[0]
        config_id = str(row["config_id"])
    else:
        config_id = wanted
        rows = done[done["config_id"] == config_id] if "config_id" in done else done
        row = rows.iloc[0] if len(rows) else None
    params = folder.read_config(config_id)
    if params is None:
        known = sorted(p.stem for p in (folder.root / "configs").glob("*.json"))
        raise UsageError(f"--from-run {folder.root}: no configuration {config_id!r}; it has "
                        f"{', '.join(known) or 'none'}")
    loso = None
    if row is not None and spec.objective in row and pd.notna(row[spec.objective]):  # AU runs: f1_macro / f1_binary
        scores = {k: float(row[k]) for k in row.index if k.split("_")[0] in ("uar", "uf1", "accuracy", "f1")
                  and pd.notna(row[k])}
        loso = {**scores, "objective": spec.objective, "configurations_searched": spec.trials,
                "optimistic": spec.trials > 1}
    return spec, config_id, params, loso
