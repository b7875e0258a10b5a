"""Sheet columns the newer adapters read, with per-column ``*_column`` options that remap them, and spelling fixes.

Each adapter lists its sheet's columns as the release names them (``sub_ID``, ``OnsetF``, ``emotion``); a user
whose copy names one otherwise passes ``--dataset-option NAME.onset_column=HEADER``. The rows come back keyed by
the names :func:`~preprocessing.annotations.datasets._common.scan_sheet` reads (``Subject``, ``Filename``,
``OnsetFrame``, ``ApexFrame``, ``OffsetFrame``, ``Estimated Emotion``, ``Action Units``), so the messages quote
the sheet's own headers and the checks stay those of every adapter. :func:`open_release` is the opening every
such adapter shares (root, sheet, columns, emotion spellings, frames folder), given the adapter's :class:`Release`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preprocessing.annotations.datasets._common import find_frames_dir, find_sheet, resolve_root
from preprocessing.annotations.sample import DatasetError
from preprocessing.annotations.sheets import Column, Sheet, SheetRow, cell_text, normalise_header, read_sheet


@dataclass(frozen=True)
class SheetColumn:
    """One column of a release's sheet.

    Attributes:
        key: the name the rows are keyed by afterwards (what ``scan_sheet`` reads, e.g. ``"OnsetFrame"``).
        header: the header text of the release, as messages show it (``"OnsetF"``).
        aliases: other header spellings accepted, normalised (``normalise_header``).
        required: a sheet without it is refused.
        option: the ``scan`` keyword that remaps it (``"onset_column"``).
    """

    key: str
    header: str
    aliases: tuple[str, ...] = ()
    required: bool = True
    option: str = ""


def read_columns(path: Path, specs: list[SheetColumn], remap: Mapping[str, str | None], dataset: str,
                 worksheet: str | None = None) -> Sheet:
    """Read ``path`` with ``specs``, a column given in ``remap`` (option -> header text) found by that text only;
    only in ``worksheet`` when one is named.

    Raises:
        DatasetError: unreadable sheet, or no header row with every required column (the message names the sheet,
            the columns missing from the closest row and the options that remap them).
    """
    columns = []
    for spec in specs:
        given = (remap.get(spec.option) or "").strip() if spec.option else ""
        names = (normalise_header(given),) if given else (normalise_header(spec.header), *spec.aliases)
        columns.append(Column(given or spec.header, names, spec.required))
    try:
        sheet = read_sheet(path, columns, worksheet=worksheet)
    except DatasetError as exc:
        options = ", ".join(f"{s.option}" for s in specs if s.option)
        raise DatasetError(f"{exc}. If your copy names a column otherwise, remap it: --dataset-option "
                           f"{dataset}.<option>=HEADER (options: {options})") from None
    keys = {column.name: spec.key for column, spec in zip(columns, specs)}
    rows = [SheetRow(row.number, {keys[name]: value for name, value in row.cells.items()}) for row in sheet.rows]
    return Sheet(sheet.path, sheet.worksheet, sheet.header_row, rows)


def fix_emotions(sheet: Sheet, spellings: Mapping[str, str], key: str = "Estimated Emotion") -> tuple[Sheet, str]:
    """Unify the emotion cells' spellings (lower case, inner spaces collapsed, then ``spellings``).

    Returns:
        The sheet with its emotion cells rewritten, and a note naming each change and its row count ("" if none).
    """
    changed: Counter[tuple[str, str]] = Counter()
    rows = []
    for row in sheet.rows:
        text = re.sub(r"\s+", " ", cell_text(row[key]).lower())
        fixed = spellings.get(text, text)
        if fixed != text:
            changed[(text, fixed)] += 1
        rows.append(SheetRow(row.number, {**row.cells, key: fixed}))
    note = ", ".join(f"{old!r} -> {new!r} ({n} rows)" for (old, new), n in sorted(changed.items()))
    return Sheet(sheet.path, sheet.worksheet, sheet.header_row, rows), (f"emotion spellings unified: {note}"
                                                                        if note else "")


def column_options(specs: list[SheetColumn]) -> list[str]:
    """The ``*_column`` options of ``specs``, for docs and errors."""
    return [spec.option for spec in specs if spec.option]


@dataclass(frozen=True)
class Release:
    """What an adapter declares about its release: names, where its sheet and frames are, its columns.

    Attributes:
        name: the adapter's name (``"casme3"``), in dataset ids and option hints.
        title: the release's name in messages (``"CAS(ME)^3 part A"``).
        sheet_patterns: sheet file globs, in order of preference (``find_sheet``).
        frames_dirs: frames folder names, in order of preference when several qualify (``find_frames_dir``).
        expected: the layout, for messages.
        columns: the sheet's columns.
        spellings: emotion spelling -> the vocabulary the protocols map (``fix_emotions``).
        is_frames_root: whether a folder holds the subject folders.
    """

    name: str
    title: str
    sheet_patterns: tuple[str, ...]
    frames_dirs: tuple[str, ...]
    expected: str
    columns: list[SheetColumn]
    spellings: Mapping[str, str]
    is_frames_root: Callable[[Path], bool]


@dataclass
class Opened:
    """A release opened by :func:`open_release`: the root, the sheet read, the frames folder and the scan's notes."""

    root: Path
    sheet_path: Path
    table: Sheet
    frames_root: Path
    notes: list[str]


def open_release(release: Release, root: str | Path, sheet: str | Path | None, frames_dir: str | Path | None,
                 options: Mapping[str, Any], select: Callable[[Sheet], tuple[Sheet, str]] | None = None,
                 worksheet: str | None = None) -> Opened:
    """Find the root, the sheet and the frames folder of ``release``; read the sheet's columns and fix its emotions.

    Args:
        release: the adapter's release.
        root, sheet, frames_dir: the adapter's ``scan`` arguments.
        options: the adapter's ``*_column`` options by name (``scan``'s ``locals()``: other names are ignored);
            a blank one keeps the release's header.
        select: keeps some rows of the sheet read (before the emotions are fixed) and says which it left out
            (``""``: none).
        worksheet: read only this worksheet (default: the first one with the columns).

    Returns:
        The opening; its notes are the sheet and the frames folder used, then ``select``'s and the spelling fixes'
        notes where they say something.

    Raises:
        DatasetError: missing root, sheet or frames folder, unreadable sheet, missing columns.
    """
    found = resolve_root(root, release.title, release.expected)
    sheet_path = find_sheet(found, sheet, release.sheet_patterns, release.title, release.name,
                            stop=release.is_frames_root)
    remap = {option: options.get(option) or "" for option in column_options(release.columns)}
    table = read_columns(sheet_path, release.columns, remap, release.name, worksheet)
    table, selected = select(table) if select is not None else (table, "")
    table, fixed = fix_emotions(table, release.spellings)
    frames_root, frames_note = find_frames_dir(found, frames_dir, release.is_frames_root, release.frames_dirs,
                                               release.title, release.name, release.expected)
    notes = [f"sheet: {sheet_path} (worksheet {table.worksheet!r}, header row {table.header_row})", frames_note]
    return Opened(found, sheet_path, table, frames_root, notes + [n for n in (selected, fixed) if n])
