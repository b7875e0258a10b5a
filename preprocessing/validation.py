"""One validator for configuration dicts, shared by every config dataclass of both packages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def check_known_keys(owner: str, given: Iterable[str], valid: Iterable[str], noun: str = "keys") -> None:
    """Raise ``ValueError`` naming the unknown keys of ``given`` and listing the valid ones.

    Args:
        owner: what the keys configure, e.g. ``"FlowConfig"`` or ``"model 'shufflenet_v2'"``.
        given: the keys received.
        valid: the keys accepted.
        noun: what a key is called in the message (``"keys"``, ``"training parameters"``, ``"options"``).
    """
    valid = sorted(valid)
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(f"{owner}: unknown {noun} {unknown}; valid {noun}: {valid}")


def from_dict(cls: type[T], values: Mapping[str, Any] | None, owner: str | None = None, noun: str = "keys") -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys raise (:func:`check_known_keys`), missing ones default."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    values = dict(values or {})
    check_known_keys(owner or cls.__name__, values, [f.name for f in fields(cls) if f.init], noun)
    return cls(**values)
