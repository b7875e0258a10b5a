"""One validator for configuration dataclasses, shared by every config dataclass of both packages.

Two parts:

- unknown keys: :func:`check_known_keys` / :func:`from_dict` refuse a key no field has, listing the valid ones;
- values: a field's type is its annotation and its range is declared once with the field (:func:`setting`);
  :func:`check_fields` (called from a dataclass's ``__post_init__``) refuses a value of the wrong type or out of
  range with one line naming the key, the value and what was expected, e.g. ``lr='fast': expected a number > 0``.

Why typing introspection (``typing.get_type_hints`` + ``dataclasses.fields`` + field metadata) and not pydantic:
the configurations stay plain frozen dataclasses (pickled to Ray workers, ``asdict`` into the run folder's JSON,
``dataclasses.replace``), their annotations already say the types, no dependency is added, and the messages are
ours (JSON spellings such as ``true or false``, what ``--set`` users type).

Accepted values by annotation: ``bool`` only ``True`` / ``False`` (not ``"False"``, not 0 / 1); ``int`` an int or
a whole float (``30.0`` from JSON or Optuna's storage becomes ``30``; a bool is not an int); ``float`` any finite
real number (ints included); ``str`` a string; ``X | None`` also ``None``; ``Literal[...]`` one of its values;
``tuple[X, ...]`` / ``list[X]`` a list or tuple whose items are ``X`` (stored as the annotated container);
``dict[K, V]`` a mapping with ``K`` keys and ``V`` values; ``Any`` anything; another class an instance of it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from functools import cache
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")

RULE = "mer_ray.rule"  # the field-metadata key of a field's range or choices


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


def from_dict(cls: type[T], values: Mapping[str, Any] | None, owner: str | None = None, noun: str = "keys", *,
              check_types: bool | None = None) -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys raise (:func:`check_known_keys`), missing ones default.

    ``check_types``: check (and normalise, :func:`conform`) each value against its field's annotation and declared
    range before constructing. Default: on for the configurations of ``mer_ray`` (a run's training and method
    configurations, which arrive from ``--set``, search spaces, run folders and bundles); the preprocessing
    package's configurations keep their own checks.

    Raises:
        ValueError: an unknown key, or (when checking) a value of the wrong type or out of range.
    """
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    values = dict(values or {})
    check_known_keys(owner or cls.__name__, values, [f.name for f in fields(cls) if f.init], noun)
    if check_types is None:
        check_types = cls.__module__.startswith("mer_ray.")
    if check_types:
        values = conform(cls, values)
    return cls(**values)


# --- declaring a field's range ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """An interval of numbers; a bound of ``None`` is open-ended."""

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __contains__(self, value: Any) -> bool:
        if self.low is not None and not (value >= self.low if self.low_inclusive else value > self.low):
            return False
        return self.high is None or (value <= self.high if self.high_inclusive else value < self.high)

    def describe(self) -> str:
        """``"> 0"``, ``">= 1"``, ``"<= 5"`` or ``"in [0, 1)"``."""
        if self.low is not None and self.high is not None:
            return (f"in {'[' if self.low_inclusive else '('}{self.low:g}, {self.high:g}"
                    f"{']' if self.high_inclusive else ')'}")
        if self.low is not None:
            return f"{'>=' if self.low_inclusive else '>'} {self.low:g}"
        if self.high is not None:
            return f"{'<=' if self.high_inclusive else '<'} {self.high:g}"
        return ""


@dataclass(frozen=True)
class Choices:
    """A fixed set of values, or a function returning them (looked up when checked: a registry's names)."""

    options: tuple | Callable[[], Iterable]

    def values(self) -> tuple:
        return tuple(self.options() if callable(self.options) else self.options)

    def __contains__(self, value: Any) -> bool:
        return any(value == o and type(value) is type(o) for o in self.values())  # True is not 1

    def describe(self) -> str:
        return f"one of {list(self.values())}"


def setting(default: Any = MISSING, *, default_factory: Any = MISSING, gt: float | None = None,
            ge: float | None = None, lt: float | None = None, le: float | None = None,
            choices: Iterable | Callable[[], Iterable] | None = None, **kwargs: Any) -> Any:
    """A dataclass field whose range (``gt`` / ``ge`` / ``lt`` / ``le``) or ``choices`` is declared with it.

    The type comes from the annotation; :func:`check_fields` checks both. For a list or tuple field the range or
    the choices apply to each item. ``choices`` may be a function (called when checking, e.g. a registry's names).
    Other keyword arguments go to ``dataclasses.field``.

    Example: ``lr: float = setting(1e-3, gt=0)``, ``classifier: str = setting("hinge", choices=CLASSIFIERS)``.
    """
    if gt is not None and ge is not None or lt is not None and le is not None:
        raise TypeError("give at most one lower (gt / ge) and one upper (lt / le) bound")
    if choices is not None and any(b is not None for b in (gt, ge, lt, le)):
        raise TypeError("give a range or choices, not both")
    rule: Range | Choices | None = None
    if choices is not None:
        rule = Choices(choices if callable(choices) else tuple(choices))
    elif any(b is not None for b in (gt, ge, lt, le)):
        rule = Range(ge if gt is None else gt, le if lt is None else lt, gt is None, lt is None)
    metadata = {**kwargs.pop("metadata", {}), **({RULE: rule} if rule is not None else {})}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata, **kwargs)


# --- checking --------------------------------------------------------------------------------------------------------


class _Refused(Exception):
    """A value does not fit its annotation or rule (turned into the one-line ValueError by the caller)."""


@cache
def _field_specs(cls: type) -> dict[str, tuple[Any, Range | Choices | None]]:
    """``{name: (resolved annotation, rule)}`` of the init fields of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints.get(f.name, Any), f.metadata.get(RULE)) for f in fields(cls) if f.init}


def check_value(cls: type, name: str, value: Any) -> Any:
    """``value`` normalised for field ``name`` of dataclass ``cls`` (a whole float -> int, a list -> tuple...).

    Raises:
        ValueError: ``"{name}={value!r}: expected {what}"``, e.g. ``epochs=-3: expected an integer >= 1``.
    """
    hint, rule = _field_specs(cls)[name]
    try:
        return _conform(value, hint, rule)
    except _Refused:
        raise ValueError(f"{name}={value!r}: expected {describe(hint, rule)}") from None


def conform(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (keys: fields of dataclass ``cls``) each checked and normalised (:func:`check_value`)."""
    specs = _field_specs(cls)
    return {k: check_value(cls, k, v) if k in specs else v for k, v in values.items()}


def check_fields(instance: Any) -> None:
    """Check every init field of dataclass ``instance`` against its annotation and declared range, in field order,
    normalising values in place (frozen dataclasses included). Call it first in ``__post_init__``.

    Raises:
        ValueError: the first field whose value is refused (:func:`check_value`).
    """
    cls = type(instance)
    for name in _field_specs(cls):
        value = getattr(instance, name)
        normalised = check_value(cls, name, value)
        if normalised is not value:
            object.__setattr__(instance, name, normalised)


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def _conform(value: Any, hint: Any, rule: Range | Choices | None) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if _is_union(origin):
        for arm in args:
            if arm is type(None):
                if value is None:
                    return None
                continue
            try:
                return _conform(value, arm, rule)
            except _Refused:
                pass
        raise _Refused
    if origin is Literal:
        if Choices(args).__contains__(value):
            return value
        raise _Refused
    if origin in (tuple, list) or hint in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _Refused
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _Refused
            items = [_conform(v, a, rule) for v, a in zip(value, args, strict=True)]
        else:
            item = args[0] if args else Any
            items = [_conform(v, item, rule) for v in value]
        return tuple(items) if (origin or hint) is tuple else items
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _Refused
        key, item = args or (Any, Any)
        return {_conform(k, key, None): _conform(v, item, None) for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise _Refused
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _Refused
        if not isinstance(value, numbers.Integral):
            if not (math.isfinite(value) and float(value).is_integer()):
                raise _Refused
        value = int(value) if type(value) is not int else value
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise _Refused
        value = value if isinstance(value, (int, float)) else float(value)
    elif isinstance(hint, type):
        if not isinstance(value, hint):
            raise _Refused
    if rule is not None and value not in rule:
        raise _Refused
    return value


_PLURAL = {bool: "true / false values", int: "integers", float: "numbers", str: "strings"}
_SINGULAR = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def describe(hint: Any, rule: Range | Choices | None = None, plural: bool = False) -> str:
    """What a field accepts in words: ``"a number > 0"``, ``"true or false"``, ``"a list of strings"``..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return "values" if plural else "any value"
    if _is_union(origin):
        arms = [describe(a, rule, plural) for a in args if a is not type(None)]
        text = " or ".join(arms)
        return f"null or {text}" if type(None) in args else text
    if origin is Literal:
        return ("values, each " if plural else "") + Choices(args).describe()
    if origin in (tuple, list) or hint in (tuple, list):
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            kinds = {describe(a, rule, True) for a in args}
            return f"a list of {len(args)} {kinds.pop() if len(kinds) == 1 else 'values'}"
        return f"a list of {describe(args[0] if args else Any, rule, True)}"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        key = args[0] if args else Any
        return "an object (a dict)" + (" with string keys" if key is str else "")
    if isinstance(rule, Choices):
        return ("values, each " if plural else "") + rule.describe()
    table = _PLURAL if plural else _SINGULAR
    base = table.get(hint, f"{hint.__name__} values" if plural else f"a {getattr(hint, '__name__', hint)}")
    bound = rule.describe() if isinstance(rule, Range) and hint in (int, float) else ""
    return f"{base} {bound}" if bound else base
