"""The hard preset of the demo: what makes the real composite hard for simple methods, drawn on purpose.

- A class is a DISTRIBUTION over action-unit combinations (``CLASS_MIXTURES``), and AUs are shared across
  classes: AU1 raises the inner brows in surprise and in sadness (1+4, negative); AU2 in surprise and in fear
  (1+2+4+20, negative); AU12 pulls the lip corners in a smile and, on one side only, in a contemptuous smirk
  (negative); AU17 and AU24 in repression and in a suppressed smile; AU25 / AU26 open the mouth in surprise, in
  laughter and in speech. A single AU is ambiguous; the combination (and its symmetry) decides. AU14 (contempt)
  is one-sided.
- Each subject moves its muscles its own way (``subject_style``): every AU's bumps are shifted, turned, rescaled
  and weighted per subject, and each subject prefers some combinations of each class and some distractors.
- Distractors in any class, with their own timing (``DISTRACTORS``): speech-like lip parting, a swallow, a lid
  twitch, a glance; head nods (``nod_*`` in the clip plan).
- Label noise (the sheet's emotion disagrees with the motion) and apex annotations off by a few frames are drawn
  in ``harden_clip``; amplitude, noise, JPEG and head-motion ranges are ``DemoConfig`` fields (``PRESETS``).

Everything is drawn from per-subject / per-clip generators seeded from the demo seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from preprocessing.annotations.sample import LABELS
from preprocessing.demo.class_design import ClassDesign
from preprocessing.demo.motions import ACTION_UNITS, action_unit_field

# class -> ((AU combination, base weight, the CASME II emotion the sheet writes for it, one-sided), ...)
CLASS_MIXTURES: dict[str, tuple[tuple[tuple[int, ...], float, str, bool], ...]] = {
    "positive": (
        ((12,), 3.0, "happiness", False), ((6, 12), 3.0, "happiness", False), ((12, 25), 1.5, "happiness", False),
        ((6, 12, 25), 1.0, "happiness", False), ((6,), 1.0, "happiness", False),
        ((12, 17), 0.5, "happiness", False), ((12, 24), 0.5, "happiness", False),
    ),
    "surprise": (
        ((1, 2), 3.0, "surprise", False), ((1, 2, 5), 2.0, "surprise", False), ((1, 2, 26), 2.0, "surprise", False),
        ((1, 2, 25), 1.0, "surprise", False), ((1, 2, 5, 26), 1.0, "surprise", False), ((2,), 1.0, "surprise", False),
        ((1,), 0.7, "surprise", False), ((5, 26), 0.5, "surprise", False),
    ),
    "negative": (
        ((4,), 2.0, "disgust", False), ((4, 7), 2.0, "disgust", False), ((9,), 1.0, "disgust", False),
        ((9, 10), 1.0, "disgust", False), ((10,), 0.8, "disgust", False), ((4, 9), 0.6, "disgust", False),
        ((1, 4), 1.0, "disgust", False), ((1, 4, 15), 1.0, "disgust", False), ((1, 2, 4, 20), 0.5, "disgust", False),
        ((4, 7, 24), 0.6, "disgust", False),
        ((14,), 1.0, "repression", True), ((15,), 1.0, "repression", False), ((17, 24), 1.0, "repression", False),
        ((15, 17), 0.8, "repression", False), ((24,), 0.6, "repression", False), ((14, 17), 0.5, "repression", True),
        ((12,), 1.0, "repression", True),  # a one-sided smirk (contempt): the smile's AU, on one side only
    ),
}
# the AUs that belong to one class; a combination using another class's AU (or AU25, which positive and surprise
# share with speech) "crosses" classes: AU1 / AU2 in negative, AU12 in a smirk, AU17 / AU24 in a held-back smile
HOME_AUS: dict[str, frozenset[int]] = {
    "positive": frozenset({6, 12}),
    "surprise": frozenset({1, 2, 5, 26}),
    "negative": frozenset({4, 7, 9, 10, 14, 15, 17, 20, 24}),
}
HAND_MADE = ClassDesign(CLASS_MIXTURES, HOME_AUS)  # the default class design (class_design.class_design)
ONE_SIDED = 0.9  # |asymmetry| of a one-sided movement: 0.1 of it on one side, 1.9 on the other
# name -> (AU combinations drawn from, base weight); any class, with their own onset and duration
DISTRACTORS: dict[str, tuple[tuple[tuple[int, ...], ...], float]] = {
    "speech": (((25,), (25, 26), (10, 25)), 2.0),  # talking / breathing through the mouth: lips part
    "swallow": (((17,), (17, 24)), 1.0),  # the chin rises and the lips press, then release
    "lid twitch": (((7,),), 1.0),  # one lower lid tightens (a tic), on either side
    "glance": (((61,), (62,)), 1.0),  # the eyes turn (inside the eye mask, but TV-L1 bleeds a little)
}
ONE_SIDED_DISTRACTORS = {"lid twitch"}


def subject_style(rng: np.random.Generator, idiosyncrasy: float, preference_concentration: float,
                  mixtures: dict | None = None) -> dict:
    """A subject's way of moving (JSON-ready): per-AU geometry and gain, preferred combinations and distractors.

    Args:
        rng: the subject's generator.
        idiosyncrasy: std of a bump shift as a fraction of the face size (the turn's std is 3x that, in radians;
            the support radius scales by exp(N(0, 4x that)).
        preference_concentration: Dirichlet concentration of the subject's preferences over a class's
            combinations (small: a few favourite combinations; large: the class's base weights).
        mixtures: the classes' combinations (``class_design.ClassDesign.mixtures``; default ``CLASS_MIXTURES``).
    """
    mixtures = CLASS_MIXTURES if mixtures is None else mixtures
    style = {"aus": {}}
    for au in sorted(ACTION_UNITS):
        style["aus"][str(au)] = {
            "dx": float(rng.normal(0, idiosyncrasy)), "dy": float(rng.normal(0, idiosyncrasy)),
            "turn": float(rng.normal(0, 3 * idiosyncrasy)),
            "scale": float(np.exp(rng.normal(0, 4 * idiosyncrasy))),
            "gain": float(np.exp(rng.normal(0, 0.3))),
        }
    style["preference"] = {label: rng.dirichlet(np.full(len(mixtures[label]), preference_concentration)).tolist()
                           for label in LABELS}
    style["distractor_preference"] = rng.dirichlet(np.full(len(DISTRACTORS), preference_concentration)).tolist()
    style["side"] = 1.0 if rng.random() < 0.5 else -1.0  # the side the subject's one-sided movements favour
    return style


def _components(rng: np.random.Generator, aus: Sequence[int], weights: Sequence[float], style: dict,
                asymmetry: float, one_sided: bool) -> tuple[tuple[float, ...], ...]:
    """``(au, weight, dx, dy, turn, scale, asymmetry)`` per AU, with the subject's geometry applied."""
    side = style["side"] if rng.random() < 0.8 else -style["side"]
    out = []
    for au, weight in zip(aus, weights):
        s = style["aus"][str(au)]
        out.append((float(au), float(weight * s["gain"]), s["dx"], s["dy"], s["turn"], s["scale"],
                    side * ONE_SIDED if one_sided else asymmetry))
    return tuple(out)


def harden_clip(rng: np.random.Generator, config, style: dict, label: str, n_frames: int, apex_index: int,
                asymmetry: float, design: ClassDesign | None = None) -> dict:
    """The hard preset's draws for one clip, as ``ClipPlan`` field replacements.

    Args:
        rng: the clip's own generator.
        config: the ``DemoConfig`` (hard fields).
        style: the subject's ``subject_style``.
        label: the clip's true class (what its face does).
        n_frames: frames of the clip.
        apex_index: the true apex (index from the onset).
        asymmetry: the clip's left/right imbalance for bilateral AUs.
        design: the classes' AU combinations (``class_design.class_design``; default: the hand-made ones).
    """
    design = design or HAND_MADE
    mix = design.mixtures[label]
    weights = np.array([entry[1] for entry in mix]) * np.array(style["preference"][label])
    if config.one_sided_weight != 1.0:  # the realistic preset: fewer one-sided combinations (hard: untouched)
        weights = weights * np.array([config.one_sided_weight if entry[3] else 1.0 for entry in mix])
    if config.crossing_weight != 1.0:  # classes that share fewer AUs (1.0 leaves every earlier plan as it was)
        weights = weights * np.array([config.crossing_weight if crosses_classes(label, entry[0], design) else 1.0
                                      for entry in mix])
    if config.combinations_per_class:  # template-like classes: only the class's k most likely combinations
        weights = weights * kept_combinations(label, config, design)
    combo, _, emotion, one_sided = mix[int(rng.choice(len(mix), p=weights / weights.sum()))]
    components = _components(rng, combo, rng.uniform(0.5, 1.0, size=len(combo)), style, asymmetry, one_sided)

    sheet_label, sheet_emotion = label, emotion
    if rng.random() < config.label_noise:  # the annotator's emotion disagrees with what the face did
        sheet_label = str(rng.choice([other for other in LABELS if other != label]))
        other_mix = design.mixtures[sheet_label]
        sheet_emotion = other_mix[int(rng.integers(len(other_mix)))][2]
    jitter = int(rng.integers(-config.apex_jitter, config.apex_jitter + 1)) if config.apex_jitter else 0
    sheet_apex_index = int(np.clip(apex_index + jitter, 1, n_frames - 2))

    distractor, distractor_name, d_amplitude, d_start, d_duration = (), "", 0.0, -1, 0
    if rng.random() < config.distractor_probability:
        names = list(DISTRACTORS)
        prior = np.array([DISTRACTORS[n][1] for n in names]) * np.array(style["distractor_preference"])
        distractor_name = names[int(rng.choice(len(names), p=prior / prior.sum()))]
        choices = DISTRACTORS[distractor_name][0]
        aus = choices[int(rng.integers(len(choices)))]
        distractor = _components(rng, aus, np.ones(len(aus)), style, asymmetry,
                                 distractor_name in ONE_SIDED_DISTRACTORS)
        low, high = config.distractor_amplitude
        d_amplitude = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        d_start = int(rng.integers(0, n_frames - 2))
        d_duration = int(rng.integers(3, max(4, n_frames // 2) + 1))
    nod_px, nod_start, nod_duration = 0.0, -1, 0
    if rng.random() < config.nod_probability:
        nod_px = float(rng.uniform(0.3, 1.0) * config.nod_px * (1 if rng.random() < 0.7 else -1))  # mostly down
        nod_start = int(rng.integers(0, n_frames - 2))
        nod_duration = int(rng.integers(4, max(5, 2 * n_frames // 3) + 1))
    low, high = config.jpeg_quality_range
    return {
        "emotion": emotion, "action_units": tuple(int(a) for a in combo), "components": components,
        "sheet_label": sheet_label, "sheet_emotion": sheet_emotion, "sheet_apex_index": sheet_apex_index,
        "distractor_kind": distractor_name, "distractor": distractor, "distractor_amplitude_224": d_amplitude,
        "distractor_start": d_start, "distractor_duration": d_duration,
        "nod_px": nod_px, "nod_start": nod_start, "nod_duration": nod_duration,
        "flicker": float(rng.uniform(0.5, 1.0) * config.flicker),
        "jpeg_quality": int(rng.integers(low, high + 1)),
        "wrinkle_depth": float(config.wrinkle_depth),  # no draw: the other draws stay as they were
    }


def kept_combinations(label: str, config, design: ClassDesign | None = None) -> np.ndarray:
    """1 for the ``config.combinations_per_class`` combinations of ``label`` with the largest prior weight (base
    weight after ``one_sided_weight`` and ``crossing_weight``; ties in the mixture's order), 0 for the rest."""
    design = design or HAND_MADE
    mix = design.mixtures[label]
    prior = np.array([entry[1] * (config.one_sided_weight if entry[3] else 1.0)
                      * (config.crossing_weight if crosses_classes(label, entry[0], design) else 1.0)
                      for entry in mix])
    keep = np.zeros(len(mix))
    keep[np.argsort(-prior, kind="stable")[:config.combinations_per_class]] = 1.0
    return keep * (prior > 0)


def crosses_classes(label: str, combo: Sequence[int], design: ClassDesign | None = None) -> bool:
    """Whether an AU combination of class ``label`` uses an AU that is not one of the class's own (``HOME_AUS``,
    or the design's home AUs)."""
    return not set(combo) <= (design or HAND_MADE).home_aus[label]


def sheet_action_units(components: Sequence[Sequence[float]]) -> int | str:
    """The sheet's AU cell: ``12``, ``"1+2"``, with one-sided AUs as CASME II writes them (``"R14"``, ``"L14+17"``).

    Image-left is the subject's right (the camera faces the subject); asymmetry > 0 favours the image's right.
    """
    cells = []
    for au, *_, asymmetry in components:
        side = ("L" if asymmetry > 0 else "R") if abs(asymmetry) >= ONE_SIDED else ""
        cells.append(f"{side}{int(au)}")
    return int(cells[0]) if len(cells) == 1 and cells[0].isdigit() else "+".join(cells)


def components_field(landmarks: np.ndarray, components: Sequence[Sequence[float]], amplitude: float,
                     shape: tuple[int, int], face_size: float) -> np.ndarray:
    """(H, W, 2) float32 field of weighted AU components, each moved / turned / rescaled by the subject.

    Args:
        landmarks: (68, 2) neutral-face landmarks.
        components: ``(au, weight, dx, dy, turn, scale, asymmetry)`` each (shift in face sizes, turn in radians).
        amplitude: the summed field's peak displacement, px.
        shape: ``(H, W)``.
        face_size: landmark-box side, px.
    """
    field = np.zeros((*shape, 2), dtype=np.float32)
    for au, weight, dx, dy, turn, scale, asymmetry in components:
        moved = np.asarray(landmarks, dtype=np.float64) + np.array([dx, dy]) * face_size
        part = action_unit_field(moved, [int(au)], 1.0, shape, asymmetry=float(asymmetry), radius_scale=scale)
        cos, sin = np.float32(np.cos(turn)), np.float32(np.sin(turn))
        u, v = part[..., 0].copy(), part[..., 1].copy()
        field[..., 0] += np.float32(weight) * (cos * u - sin * v)
        field[..., 1] += np.float32(weight) * (sin * u + cos * v)
    peak = float(np.sqrt((field.astype(np.float64) ** 2).sum(axis=-1)).max())
    if peak > 0:
        field *= np.float32(amplitude / peak)
    return field


def pulse(n_frames: int, start: int, duration: int) -> np.ndarray:
    """(n,) raised-cosine pulse 0 -> 1 -> 0 from frame ``start`` over ``duration`` frames (zeros if start < 0)."""
    if start < 0 or duration <= 0:
        return np.zeros(n_frames)
    t = np.arange(n_frames, dtype=np.float64) - start
    return np.where((t > 0) & (t < duration), 0.5 * (1 - np.cos(2 * np.pi * t / duration)), 0.0)
