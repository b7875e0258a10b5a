"""``--set key=value``: one fixed configuration (a space's fixed settings plus overrides) without a space module.

Shared by ``python -m mer_ray.loso`` and ``python -m mer_ray.fit``. Values are parsed as JSON where they can be
(``64``, ``1e-3``, ``true``, ``[1, 1, 1]``, ``{"width": 0.5}``), else kept as strings (``modality=flow``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import ModuleType
from typing import Any


def parse_settings(items: Iterable[str] | None) -> dict[str, Any]:
    """``["input_size=64", "modality=flow"]`` -> ``{"input_size": 64, "modality": "flow"}``.

    Raises:
        ValueError: an item without ``=`` or with an empty key.
    """
    settings: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. --set input_size=64")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    return settings


def resolve_config(space: ModuleType, settings: dict[str, Any], *, demo: bool = False) -> dict[str, Any]:
    """The configuration dict of ``space``'s fixed settings (its demo variant's with ``demo``) plus ``settings``.

    Raises:
        ValueError: a key no configuration field has (the message lists the valid ones) or an invalid value.
    """
    from mer_ray.methods import parse_config

    params = {**space.FIXED, **(space.DEMO_FIXED if demo else {}), **settings}
    try:
        return parse_config(params).to_dict()
    except TypeError as err:  # a value of the wrong kind (a list where a number belongs)
        raise ValueError(f"--set: {err}") from err


def fixed_space(space: ModuleType, settings: dict[str, Any]) -> ModuleType:
    """A one-configuration view of ``space``: its fixed settings plus ``settings``, nothing searched.

    Checked here, before any trial, for both the full and the demo variant.

    Raises:
        ValueError: an unknown key or an invalid value (see :func:`resolve_config`).
    """
    for demo in (False, True):
        resolve_config(space, settings, demo=demo)
    short = space.__name__.rsplit(".", 1)[-1]
    view = ModuleType(f"{space.__name__}[set]")
    text = ", ".join(f"{k}={json.dumps(v)}" for k, v in settings.items())
    view.DESCRIPTION = f"{short} fixed settings with --set {text} (one configuration, no search)"
    view.SAMPLER = "fixed"
    view.TRIALS = view.DEMO_TRIALS = 1
    view.FIXED = {**space.FIXED, **settings}
    view.DEMO_FIXED = {**getattr(space, "DEMO_FIXED", {}), **settings}  # --set wins over the demo sizes too
    view.REFERENCE = getattr(space, "REFERENCE", None)
    view.suggest = view.suggest_demo = lambda trial: {}
    return view
