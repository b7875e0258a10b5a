"""Dataset adapters: one module per dataset, each with ``NAME`` and ``scan(root, **options) -> DatasetScan``.

Modules are imported lazily (``scan_dataset("samm", ...)`` imports only ``samm``); an entry ``module:attribute``
names an object of that module with the same ``NAME``, ``TITLE`` and ``scan`` (the multi-layout demo's three
datasets, one class in ``demo_layout``). Options are each adapter's keyword-only ``scan`` parameters (``sheet``,
``frames_dir``, demo's ``seed``); on the command line they are ``--dataset-option NAME.KEY=VALUE``.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

from preprocessing.annotations.sample import DatasetScan

# name -> module implementing it
ADAPTERS = {
    "casme2": "preprocessing.annotations.datasets.casme2",
    "samm": "preprocessing.annotations.datasets.samm",
    "smic": "preprocessing.annotations.datasets.smic",
    "mmew": "preprocessing.annotations.datasets.mmew",
    "demo": "preprocessing.annotations.datasets.demo",
    "casme": "preprocessing.annotations.datasets.casme",
    "casme3": "preprocessing.annotations.datasets.casme3",
    "casme3c": "preprocessing.annotations.datasets.casme3c",
    "fourdme": "preprocessing.annotations.datasets.fourdme",
    "demo-casme2": "preprocessing.annotations.datasets.demo_layout:DEMO_CASME2",
    "demo-samm": "preprocessing.annotations.datasets.demo_layout:DEMO_SAMM",
    "demo-casme3": "preprocessing.annotations.datasets.demo_layout:DEMO_CASME3",
}


DEMO = "demo"  # the built-in demo dataset's adapter name
# The multi-layout demo's datasets (preprocessing.demo.layouts): the demo's subjects in three releases' layouts,
# what leave-one-dataset-out runs on when no data is given. They take the demo's options (forwarded from demo.KEY).
DEMO_LAYOUT_DATASETS = ("demo-casme2", "demo-samm", "demo-casme3")


def only_demo(datasets) -> bool:
    """Whether a selection (names, or a manifest's ``datasets`` mapping) is the built-in demo alone: ``demo``, or
    datasets of the multi-layout demo (``demo-casme2``, ...) and nothing else."""
    names = list(datasets)
    return names == [DEMO] or (bool(names) and set(names) <= set(DEMO_LAYOUT_DATASETS))



def demo_dataset_flags(datasets) -> list[str]:
    """The ``--dataset`` flags that select a demo-only selection again: none for the plain demo (what ``run`` takes
    without ``--dataset``), ``--dataset demo-casme2 ...`` (no root) for the multi-layout demo."""
    names = list(datasets)
    return [] if names == [DEMO] else [f"--dataset {name}" for name in names]

_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def list_datasets() -> list[str]:
    """Names of the registered dataset adapters."""
    return list(ADAPTERS)


def get_adapter(name: str) -> ModuleType | Any:
    """The adapter module for ``name`` (or, for a ``module:attribute`` entry, that object).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in ADAPTERS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(ADAPTERS)}")
    module, _, attribute = ADAPTERS[name].partition(":")
    found = importlib.import_module(module)
    return getattr(found, attribute) if attribute else found


def adapter_options(name: str) -> dict[str, inspect.Parameter]:
    """The keyword-only options of an adapter's ``scan`` (e.g. ``sheet``, ``frames_dir``)."""
    parameters = inspect.signature(get_adapter(name).scan).parameters.values()
    return {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def root_optional(name: str) -> bool:
    """Whether an adapter's ``scan`` can run without a root (the demo dataset generates its own)."""
    root = next(iter(inspect.signature(get_adapter(name).scan).parameters.values()))
    return root.default is None


def scan_dataset(name: str, root: str | Path | None, **options: Any) -> DatasetScan:
    """Scan one dataset.

    Args:
        name: adapter name (see :func:`list_datasets`).
        root: dataset root; ``None`` only for adapters that need none (demo).
        **options: the adapter's keyword options, e.g. ``frames_dir="Cropped"``.

    Raises:
        ValueError: unknown dataset or option.
        DatasetError: the dataset's root, sheet or frames folder is unusable.
    """
    known = adapter_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; "
                         f"valid options: {', '.join(known) or 'none'}")
    module = get_adapter(name)
    return module.scan(root, **options) if root is not None else module.scan(**options)


def parse_dataset_specs(specs: list[str]) -> list[tuple[str, Path | None]]:
    """Parse ``NAME=DIR`` strings (``--dataset``); a bare ``NAME`` is accepted for datasets that need no root.

    Raises:
        ValueError: unknown name, missing ``=``, a name given twice, or a folder that does not exist.
    """
    parsed: list[tuple[str, Path | None]] = []
    for spec in specs:
        name, sep, directory = spec.partition("=")
        name = name.strip()
        if name not in ADAPTERS:
            raise ValueError(f"--dataset {spec!r}: unknown dataset {name!r}; valid datasets: {', '.join(ADAPTERS)}")
        if any(name == seen for seen, _ in parsed):
            raise ValueError(f"--dataset {spec!r}: dataset {name!r} given twice")
        if not sep or not directory.strip():
            if root_optional(name):
                parsed.append((name, None))
                continue
            raise ValueError(f"--dataset {spec!r}: expected NAME=DIR, e.g. {name}=/data/{name}")
        path = Path(directory.strip()).expanduser()
        if not path.is_dir() and not root_optional(name):
            raise ValueError(f"--dataset {spec!r}: folder {path} does not exist")
        parsed.append((name, path))
    return parsed


def parse_dataset_options(specs: list[str]) -> dict[str, dict[str, Any]]:
    """Parse ``NAME.KEY=VALUE`` strings (``--dataset-option``) into per-dataset keyword options.

    Values are converted to the type of the option's default when that is a ``bool`` (``true``/``false``,
    ``1``/``0``, ``yes``/``no``), an ``int`` or a ``float``.

    Raises:
        ValueError: malformed spec, unknown dataset or option, or a value of the wrong type.
    """
    options: dict[str, dict[str, Any]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        name, dot, option = key.strip().partition(".")
        if not sep or not dot or not option:
            raise ValueError(f"--dataset-option {spec!r}: expected NAME.KEY=VALUE, e.g. casme2.frames_dir=Cropped")
        known = adapter_options(_known_name(name, spec))
        if option not in known:
            raise ValueError(f"--dataset-option {spec!r}: dataset {name!r} has no option {option!r}; "
                             f"valid options: {', '.join(known) or 'none'}")
        default = known[option].default
        if isinstance(default, bool):
            if value.strip().lower() not in _BOOLEANS:
                raise ValueError(f"--dataset-option {spec!r}: expected true or false")
            value = _BOOLEANS[value.strip().lower()]
        elif isinstance(default, int | float):
            try:
                value = type(default)(value)
            except ValueError:
                raise ValueError(f"--dataset-option {spec!r}: expected a {type(default).__name__} value") from None
        options.setdefault(name, {})[option] = value
    return options


def _known_name(name: str, spec: str) -> str:
    """``name`` if it is a registered dataset, else a ValueError quoting ``spec``."""
    if name not in ADAPTERS:
        raise ValueError(f"--dataset-option {spec!r}: unknown dataset {name!r}; valid datasets: {', '.join(ADAPTERS)}")
    return name


def scan_datasets(specs: list[tuple[str, Path | None]] | list[str],
                  options: dict[str, dict[str, Any]] | None = None) -> list[DatasetScan]:
    """Scan several datasets, in the order given.

    Args:
        specs: ``(name, root)`` pairs from :func:`parse_dataset_specs`, or the raw ``NAME=DIR`` strings.
        options: per-dataset keyword options from :func:`parse_dataset_options`.

    Raises:
        ValueError: bad spec or option.
        DatasetError: a dataset is unusable as a whole.
    """
    pairs = parse_dataset_specs(specs) if specs and isinstance(specs[0], str) else specs
    options = forward_demo_options(options or {}, [name for name, _ in pairs])
    unused = sorted(set(options) - {name for name, _ in pairs})
    if unused:
        raise ValueError(f"--dataset-option given for {', '.join(unused)}, which has no --dataset")
    return [scan_dataset(name, root, **options.get(name, {})) for name, root in pairs]


def forward_demo_options(options: dict[str, dict[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    """Options given for ``demo`` apply to each multi-layout demo dataset when ``demo`` itself is not scanned
    (``--dataset-option demo.seed=3``, and ``--smoke-test``'s ``demo.small``, reach ``demo-samm`` ...); a
    dataset's own options win."""
    layouts = [name for name in names if name in DEMO_LAYOUT_DATASETS]
    if DEMO not in options or DEMO in names or not layouts:
        return options
    shared = options[DEMO]
    return {**{k: v for k, v in options.items() if k != DEMO},
            **{name: {**shared, **options.get(name, {})} for name in layouts}}
