"""``--set key=value``: one fixed configuration (a space's fixed settings plus overrides) without a space module.

Shared by ``python -m mer_ray.loso`` and ``python -m mer_ray.fit``. Values are parsed as JSON where they can be
(``64``, ``1e-3``, ``true``, ``[1, 1, 1]``, ``{"width": 0.5}``), else kept as strings (``modality=flow``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from search_spaces.space import SearchSpace


def parse_settings(items: Iterable[str] | None) -> dict[str, Any]:
    """``["input_size=64", "modality=flow"]`` -> ``{"input_size": 64, "modality": "flow"}``.

    A value is JSON where it parses (``64``, ``1e-3``, ``true``, ``null``, ``[1, 1, 1]``, ``{"width": 0.5}``), else
    one of the Python spellings ``True``, ``False``, ``None`` (true, false, null), else the string as typed
    (``modality=flow``). Whether the value suits its key is checked where the configuration is built
    (:func:`resolve_config`: ``lr=fast`` is refused there, naming ``lr``), before anything is started.

    Raises:
        ValueError: an item without ``=`` or with an empty key (one line naming the item).
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
            settings[key] = _PYTHON_SPELLINGS.get(text.strip(), text)
    return settings


_PYTHON_SPELLINGS: dict[str, Any] = {"True": True, "False": False, "None": None}


def resolve_config(space: SearchSpace, settings: dict[str, Any], *, demo: bool = False) -> dict[str, Any]:
    """The configuration dict of ``space``'s fixed settings (its demo variant's with ``demo``) plus ``settings``.

    Raises:
        ValueError: a key no configuration field has (the message lists the valid ones) or an invalid value.
    """
    from mer_ray.methods import parse_config, with_overrides

    params = with_overrides(space.params(demo), settings, strict=True)
    try:
        return parse_config(params).to_dict()
    except TypeError as err:  # a value of the wrong kind (a list where a number belongs)
        raise ValueError(f"--set: {err}") from err


def fixed_space(space: SearchSpace, settings: dict[str, Any]) -> SearchSpace:
    """A one-configuration view of ``space``: its fixed settings plus ``settings``, nothing searched
    (:meth:`SearchSpace.with_settings`), checked here, before any trial, for both the full and the demo variant.

    Raises:
        ValueError: an unknown key or an invalid value (see :func:`resolve_config`).
    """
    for demo in (False, True):
        resolve_config(space, settings, demo=demo)
    return space.with_settings(settings)
