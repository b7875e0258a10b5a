"""Checks that ``python -m mer_ray.loso`` makes before Ray starts: each refuses a run in one line
(:class:`~mer_ray.infra.errors.UsageError`) that names the option and says what is expected: ``--repeats``, a space
under ``--task au``, a features folder (one at all, AU codes), and the datasets a cross-dataset protocol needs.
"""

from __future__ import annotations

from pathlib import Path

from mer_ray.infra.errors import UsageError
from search_spaces.space import SearchSpace


def check_repeats(repeats: int, space: SearchSpace, nested: bool) -> None:
    """``--repeats N`` retrains ONE fixed configuration with N seeds: refused (one line) for a search, with
    ``--nested``, or below 1."""
    if repeats < 1:
        raise UsageError(f"--repeats {repeats}: expected an integer >= 1")
    if repeats == 1:
        return
    if space.sampler != "fixed":
        raise UsageError(f"--repeats {repeats} retrains one fixed configuration with other seeds; search space "
                         f"{space.name!r} searches ({space.sampler}): fix it with --set KEY=VALUE, or use a fixed "
                         "space (recommended, ensemble, paper, probe, ...)")
    if nested:
        raise UsageError(f"--repeats {repeats} cannot go with --nested (the nested search chooses per outer fold)")


def check_au_configurations(space: SearchSpace) -> None:
    """Refuse, before Ray starts, a space whose known configurations cannot detect AUs (a network with an SVC or
    hinge classifier). Raises :class:`UsageError`."""
    from mer_ray.methods import check_task, parse_config

    if space.sampler == "tpe":
        raise UsageError(f"--task au runs a fixed or grid space (recommended, ensemble, probe, hoof, mdmo, lbptop); "
                         f"search space {space.name!r} draws its configurations during the search, some "
                         "without a multi-label form (an SVC): fix one with --set KEY=VALUE (e.g. --set "
                         "classifier=softmax)")
    for demo in (False, True):
        for params in space.configurations(demo):
            try:
                check_task(parse_config(params), True)
            except ValueError as err:
                raise UsageError(f"--search {space.name}: {err}") from None


def check_au_folder(path: Path, subset: list[str] | None) -> None:
    """Refuse, before Ray starts, a features folder with a dataset (of ``subset``, if given) whose clips carry no AU
    code (read from the shards' metadata only). Raises :class:`UsageError`."""
    from mer_ray.evaluation.au_task import AuTaskError, check_au_codes
    from preprocessing.features import shards

    path = Path(path).expanduser().resolve()
    manifest = shards.read_manifest(path) or {}
    try:
        meta = shards.read_meta(path, manifest["sample_ids"]).to_pandas()
    except Exception:  # a damaged folder is named by load_features (after Ray starts), with its repair command
        return
    if subset:
        meta = meta[meta["dataset"].isin(subset)]
    try:
        check_au_codes(meta)
    except AuTaskError as err:
        raise UsageError(str(err)) from None


def au_features(features):
    """``(features, dropped)`` for ``--task au``: the clips that carry AU codes, after refusing a dataset with none
    (``mer_ray.evaluation.au_task.check_au_codes``: naming it, the column and what is needed). Raises
    :class:`UsageError`."""
    from mer_ray.evaluation.au_task import AU_COLUMN, AuTaskError, check_au_codes, coded

    try:
        check_au_codes(features.meta)
    except AuTaskError as err:
        raise UsageError(str(err)) from None
    keep = coded(features.meta[AU_COLUMN].tolist())
    if keep.all():
        return features, 0
    print(f"--task au: {int((~keep).sum())} clips without an AU code are left out ({int(keep.sum())} kept)",
          flush=True)
    return features.subset(keep), int((~keep).sum())


def check_features_folder(path: Path, what: str = "--features") -> None:
    """Refuse, before Ray starts, a ``path`` that is not a features folder (no such folder, a file, a folder without
    the preprocessing run's manifest), naming it as ``what``. The shards' integrity is checked when they are loaded
    (``load_features``). Raises :class:`UsageError`."""
    from preprocessing.features.shards import MANIFEST

    given = path
    path = Path(path).expanduser().resolve()
    where = "" if str(given) == str(path) else f" ({path})"
    if not path.exists():
        raise UsageError(f"{what} {given}: no such folder{where}; give the --out folder of "
                         "`python -m preprocessing run`")
    if not path.is_dir():
        raise UsageError(f"{what} {given}: not a folder{where}; give the --out folder of "
                         "`python -m preprocessing run`")
    if not (path / MANIFEST).is_file():
        raise UsageError(f"{what} {given}: {path / MANIFEST} not found: {path} is not a complete features folder; "
                         f"run `python -m preprocessing run --out {path}` (an interrupted run resumes)")


def protocol_label(protocol: str, test_dataset: str | None) -> str:
    """How the command line says a protocol: ``--protocol lodo``, ``--test-dataset NAME``, ``--protocol loso``."""
    return f"--test-dataset {test_dataset}" if test_dataset else f"--protocol {protocol}"


def check_protocol_datasets(datasets: list[str] | None, test_dataset: str | None) -> None:
    """Refuse, before Ray starts, a leave-one-dataset-out run that ``datasets`` cannot hold (None: unknown yet).
    Raises :class:`UsageError`."""
    from mer_ray.evaluation.folds import check_dataset_protocol
    from preprocessing.annotations.datasets import DEMO, only_demo

    if datasets is None:
        return
    try:
        check_dataset_protocol(datasets, test_dataset)
    except ValueError as err:
        demo = ""
        if list(datasets) == [DEMO]:
            demo = (" (the built-in demo is one dataset: give no --dataset to use its three layouts, or --features "
                    "of a preprocessing run over two or more datasets)")
        elif only_demo(datasets) and len(datasets) < 2:
            demo = " (--subset keeps fewer than two of the demo's layouts)"
        raise UsageError(f"{protocol_label('lodo', test_dataset)}: {err}{demo}") from err
