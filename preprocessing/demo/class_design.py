"""How the hard-family demo builds its three classes from action units (``DemoConfig.class_structure``).

- ``"mixtures"`` (every preset's default): the hand-made ``hard.CLASS_MIXTURES``, modelled on CASME II's coding
  (shared AUs, one-sided confusers), with ``hard.HOME_AUS``.
- ``"random"``: a new design per generator seed, so that a recipe tuned on the hand-made classes meets classes it
  has never seen. Each class gets ``HOME_SIZE`` home AUs of its own, drawn without replacement from ``POOL``
  (bilateral AUs; the eye glances and the one-sided AU14 are left out); its combinations are every non-empty
  subset of its home AUs, with random prior weights; and a weak confuser, one AU of another class's home set,
  appears alone and with one home AU, at ``CONFUSER_WEIGHT`` of a mean combination's weight.

The random design is drawn from its own stream (``[seed, 8]``), so a seed's faces, subject styles, labels and
clip names stay what they are under the default design; only the motions differ.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from preprocessing.annotations.sample import LABELS

POOL = (1, 2, 4, 5, 6, 7, 9, 10, 12, 15, 17, 20, 24, 25, 26)
HOME_SIZE = 3
CONFUSER_WEIGHT = 0.3
EMOTIONS = {"positive": ("happiness",), "surprise": ("surprise",), "negative": ("disgust", "repression")}
STRUCTURES = ("mixtures", "random")

Mixture = tuple[tuple[tuple[int, ...], float, str, bool], ...]  # (AU combination, prior weight, emotion, one-sided)


@dataclass(frozen=True)
class ClassDesign:
    """Each class's AU combinations (``hard.CLASS_MIXTURES``' format) and its home AUs."""

    mixtures: dict[str, Mixture]
    home_aus: dict[str, frozenset[int]]


def class_design(seed: int, structure: str) -> ClassDesign:
    """The class design of a demo: the hand-made one, or a random one drawn from ``seed``."""
    from preprocessing.demo.hard import HAND_MADE

    if structure == "mixtures":
        return HAND_MADE
    if structure != "random":
        raise ValueError(f"demo class_structure={structure!r}: expected one of {list(STRUCTURES)}")
    rng = np.random.default_rng([seed, 8])
    pool = [int(au) for au in rng.permutation(POOL)]
    homes = {label: tuple(sorted(pool[i * HOME_SIZE:(i + 1) * HOME_SIZE])) for i, label in enumerate(LABELS)}
    mixtures = {}
    for label in LABELS:
        home = homes[label]
        emotions = EMOTIONS[label]
        combos = [c for size in range(1, HOME_SIZE + 1) for c in itertools.combinations(home, size)]
        weights = rng.dirichlet(np.ones(len(combos))) * len(combos)  # mean 1
        entries = [(c, float(w), emotions[int(rng.integers(len(emotions)))], False) for c, w in zip(combos, weights)]
        others = [au for other in LABELS if other != label for au in homes[other]]
        confuser = int(others[int(rng.integers(len(others)))])
        partner = int(home[int(rng.integers(len(home)))])
        entries += [((confuser,), CONFUSER_WEIGHT, emotions[0], False),
                    (tuple(sorted((partner, confuser))), CONFUSER_WEIGHT, emotions[0], False)]
        mixtures[label] = tuple(entries)
    return ClassDesign(mixtures, {label: frozenset(home) for label, home in homes.items()})
