"""Action-unit targets from the sheets' FACS codes, for an auxiliary multi-label loss (``TrainConfig.au_weight``).

The sheets code what the face did (CASME II ``"1+2"``, ``"R14"``, ``"L14+17"``; SAMM ``"AU12+AU25"``,
``"R12"``, ``"A1+2"``), not the annotator's emotion, so AU presence is a second, finer target on the same clips.
Only TRAINING rows are ever read: the held-out subjects' codes are blanked with their labels
(``FeatureSet.with_masked_labels``). Sides (L / R / A / B prefixes) and intensities (``12C``) are dropped: an AU is
present or not. Clips with no code (SMIC has none, or an empty cell) are left out of the auxiliary loss.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_AU_NUMBER = re.compile(r"^(?:AU)?[LRABT]?(?:AU)?(\d{1,3})[A-E]?$", re.IGNORECASE)


def parse_action_units(cell: object) -> frozenset[int]:
    """The AU numbers in one sheet cell; tokens that are not an AU (``"?"``, ``"/"``, text) are ignored.

    >>> sorted(parse_action_units("L14+17"))
    [14, 17]
    >>> sorted(parse_action_units("AU1+AU2+R12C"))
    [1, 2, 12]
    """
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return frozenset()
    tokens = re.split(r"[+,;/\s]+", str(cell).strip())
    return frozenset(int(m.group(1)) for t in tokens if (m := _AU_NUMBER.match(t)))


def au_targets(codes: Sequence[object], min_count: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Multi-hot AU targets of some (training) clips.

    Args:
        codes: the clips' sheet cells.
        min_count: an AU becomes a target when at least this many of these clips code it.

    Returns:
        ``(vocabulary, targets (N, K) float32, coded (N,) bool)``: the target AUs in ascending order, each clip's
        presence vector, and which clips have any code at all (the others are left out of the loss).
    """
    parsed = [parse_action_units(c) for c in codes]
    counts = Counter(au for aus in parsed for au in aus)
    vocabulary = sorted(au for au, n in counts.items() if n >= min_count)
    column = {au: k for k, au in enumerate(vocabulary)}
    targets = np.zeros((len(parsed), len(vocabulary)), dtype=np.float32)
    for i, aus in enumerate(parsed):
        for au in aus:
            if au in column:
                targets[i, column[au]] = 1.0
    coded = np.array([bool(aus) for aus in parsed], dtype=bool)
    return vocabulary, targets, coded
