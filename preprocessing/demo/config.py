"""What a demo dataset is: ``DemoConfig``, the named presets, and ``demo.json`` (the manifest, its cache key).

``make_config`` builds a preset's configuration with overrides; ``manifest`` identifies a generated dataset exactly.
The version numbers here are bumped whenever a preset's output for a given seed changes (invalidating caches).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from mer_ray.infra.validation import from_dict
from preprocessing.demo.class_design import STRUCTURES

VERSION = 1  # bump whenever the output for a given seed and parameters changes: invalidates every cache


@dataclass(frozen=True)
class DemoConfig:
    """Size and difficulty of the demo. Amplitudes are at the 224-px face scale (landmark box side)."""

    n_subjects: int = 16  # >= 12 like a small real dataset; LOSO then has 16 folds
    clips_per_subject: int = 7
    min_frames: int = 12  # frames per clip, onset..offset inclusive (real CASME II clips are longer, ~30-100)
    max_frames: int = 20
    height: int = 384
    width: int = 384
    jpeg_quality: int = 90
    amplitude: tuple[float, float] = (0.6, 2.4)  # log-uniform apex displacement (px), then x subject intensity
    amplitude_limits: tuple[float, float] = (0.5, 3.0)  # hard clip of the final amplitude
    subject_intensity: tuple[float, float] = (0.8, 1.25)
    subject_asymmetry: float = 0.2  # std of a subject's left/right imbalance (clip jitter 0.1 on top)
    blink_probability: float = 0.35  # per clip, in any class; never on the onset frame
    pose_px: float = 6.0  # |static head shift| between clips of a subject
    pose_deg: float = 2.5  # |static head roll| between clips
    drift_px: float = 0.4  # |head shift| from onset to offset (below the typical expression amplitude)
    drift_deg: float = 0.15  # |head roll| from onset to offset (~0.3 px at the face's edge)
    tremor_px: float = 0.1  # largest head tremor amplitude
    illumination_drift: float = 0.03  # |relative brightness / gradient change| from onset to offset
    noise_sigma: tuple[float, float] = (1.0, 2.0)  # sensor noise std, grey levels
    # --- the hard preset (PRESETS["hard"]; preprocessing/demo/hard.py). These defaults are the easy demo's, which
    # uses none of them (an easy config must leave them so: its files stay what they were before presets existed).
    preset: str = "easy"  # "hard": a class is a mixture over shared AU combinations; "easy": a few fixed AU sets
    label_noise: float = 0.0  # share of clips whose sheet emotion disagrees with the motion (annotator error)
    apex_jitter: int = 0  # the sheet's apex is off the true one by up to this many frames (annotation error)
    idiosyncrasy: float = 0.0  # std of a subject's per-AU bump shift (face sizes): muscles and geometry differ
    preference_concentration: float = 1.0  # Dirichlet concentration of a subject's favourite AU combinations
    distractor_probability: float = 0.0  # chance of a non-emotional movement per clip (speech, swallow, tic...)
    distractor_amplitude: tuple[float, float] = (0.3, 1.5)  # its log-uniform peak, px at 224
    nod_probability: float = 0.0  # chance of a head nod during a clip, in any class
    nod_px: float = 0.0  # largest nod (vertical head shift), px at 224
    flicker: float = 0.0  # largest std of the per-frame gain / gradient jitter (mains flicker, auto-exposure)
    jpeg_quality_range: tuple[int, int] = (0, 0)  # per-clip JPEG quality, uniform ((0, 0): jpeg_quality for all)
    identity_variation: float = 1.0  # scales the identity changes' ranges (IdentityConfig.scaled)
    blend_identities: bool = False  # draw subjects from the base faces and morphs of two people (faces.py)
    # --- added with the realistic preset (LATER_FIELDS): left out of a demo.json while at their defaults, so that
    # hard demos keep their manifests and caches.
    one_sided_weight: float = 1.0  # scales the prior weight of one-sided AU combinations (contempt, smirk)
    crossing_weight: float = 1.0  # scales the prior weight of combinations using another class's AU (hard.HOME_AUS)
    combinations_per_class: int = 0  # keep each class's k most likely AU combinations (0: all): template-like classes
    class_structure: str = "mixtures"  # "random": classes from random AU subsets, new per seed (class_design.py)
    wrinkle_depth: float = 0.0  # skin folds where the expression compresses the skin (render.wrinkle_shading)

    def __post_init__(self) -> None:
        checks = [
            ("n_subjects", 1 <= self.n_subjects <= 99, "an integer in 1..99 (folders sub01..sub99)"),
            ("clips_per_subject", 1 <= self.clips_per_subject <= 100, "an integer in 1..100"),
            ("min_frames", self.min_frames >= 4, "at least 4 (onset < apex < offset with frames between)"),
            ("max_frames", self.max_frames >= self.min_frames, f"at least min_frames={self.min_frames}"),
            ("height", self.height >= 256, "at least 256 px (the face is ~185-225 px)"),
            ("width", self.width >= 256, "at least 256 px (the face is ~185-225 px)"),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100, "1..100"),
            ("blink_probability", 0 <= self.blink_probability <= 1, "a probability"),
            ("preset", self.preset in PRESETS, f"one of {sorted(PRESETS)}"),
            ("label_noise", 0 <= self.label_noise < 0.5, "a probability below 0.5"),
            ("apex_jitter", self.apex_jitter >= 0, "0 or more frames"),
            ("idiosyncrasy", self.idiosyncrasy >= 0, "0 or more"),
            ("preference_concentration", self.preference_concentration > 0, "a positive number"),
            ("distractor_probability", 0 <= self.distractor_probability <= 1, "a probability"),
            ("distractor_amplitude", 0 < self.distractor_amplitude[0] <= self.distractor_amplitude[1],
             "(low, high) with 0 < low <= high"),
            ("nod_probability", 0 <= self.nod_probability <= 1, "a probability"),
            ("jpeg_quality_range", tuple(self.jpeg_quality_range) == (0, 0)
             or 1 <= self.jpeg_quality_range[0] <= self.jpeg_quality_range[1] <= 100,
             "(0, 0) or (low, high) with 1 <= low <= high <= 100"),
            ("identity_variation", self.identity_variation > 0, "a positive factor"),
            ("one_sided_weight", self.one_sided_weight >= 0, "0 or more"),
            ("crossing_weight", self.crossing_weight >= 0, "0 or more"),
            ("combinations_per_class", self.combinations_per_class >= 0, "0 (all) or a number of combinations"),
            ("class_structure", self.class_structure in STRUCTURES, f"one of {list(STRUCTURES)}"),
            ("wrinkle_depth", 0 <= self.wrinkle_depth <= 1, "a darkening depth in 0..1 (0: no folds)"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"demo parameter {name}={getattr(self, name)!r}: expected {expected}")
        if self.preset == "easy":
            defaults = DemoConfig.__dataclass_fields__
            used = [name for name in HARD_FIELDS if getattr(self, name) != defaults[name].default]
            if used:
                raise ValueError(f"demo parameters {', '.join(used)}: only the hard preset uses them (and the "
                                 "realistic one, built on it); pass preset='hard'")

    @property
    def n_clips(self) -> int:
        return self.n_subjects * self.clips_per_subject


HARD_FIELDS = tuple(DemoConfig.__dataclass_fields__)[tuple(DemoConfig.__dataclass_fields__).index("preset"):]
# fields added after the hard preset: in a demo.json only when not at their defaults
LATER_FIELDS = ("one_sided_weight", "crossing_weight", "combinations_per_class", "class_structure", "wrinkle_depth")
HARD_VERSION = 1  # bump whenever the hard preset's output for a given seed changes (the easy demo keeps VERSION)
REALISTIC_VERSION = 2  # the same for the realistic preset (2: skin folds, wrinkle_depth 0.15; 1: without them)
PRESET_VERSIONS = {"hard": HARD_VERSION, "realistic": REALISTIC_VERSION}

DEFAULT_DEMO: dict = {}  # the default demo's size parameters: DemoConfig's defaults
# Named presets: DemoConfig fields on top of its defaults. "hard" is calibrated so that a linear probe on the
# stored flow lands at a pooled LOSO UAR of about 0.60-0.70, as simple methods do on the real composite (README,
# "Hard preset"); its values are what real data has (the README's table of reasons).
PRESETS: dict[str, dict] = {
    "easy": {},
    "hard": {
        "preset": "hard", "n_subjects": 30, "clips_per_subject": 8, "min_frames": 12, "max_frames": 24,
        "amplitude": (0.15, 2.5), "amplitude_limits": (0.1, 3.0), "subject_intensity": (0.7, 1.4),
        "subject_asymmetry": 0.25, "drift_px": 0.45, "drift_deg": 0.2, "tremor_px": 0.12, "illumination_drift": 0.03,
        "noise_sigma": (1.5, 2.5), "label_noise": 0.04, "apex_jitter": 2, "idiosyncrasy": 0.01,
        "preference_concentration": 1.5, "distractor_probability": 0.3, "distractor_amplitude": (0.3, 1.5),
        "nod_probability": 0.15, "nod_px": 1.0, "flicker": 0.006, "jpeg_quality_range": (55, 75),
        "identity_variation": 1.5, "blend_identities": True,
    },
}
# "realistic": the hard preset's machinery (hard.py), calibrated so that the ORDERING of the published methods
# follows real data (benchmarks/realism.py; docs/realism.md says which setting moves which gap).
PRESETS["realistic"] = {
    **PRESETS["hard"], "preset": "realistic",
    "amplitude": (0.4, 2.5), "amplitude_limits": (0.3, 3.0),  # coders keep clips whose motion they can see
    "one_sided_weight": 0.4,  # fewer left/right-only confusers: the CNNs' edge over a linear probe shrinks
    "wrinkle_depth": 0.15,  # skin folds where the skin is compressed: texture descriptors (LBP-TOP) leave chance
}
# A tiny demo for tests: 3 subjects x 3 clips of 8-10 frames (all three classes), a few seconds to generate.
SMALL_DEMO: dict = {"n_subjects": 3, "clips_per_subject": 3, "min_frames": 8, "max_frames": 10}


def make_config(preset: str = "easy", **params) -> DemoConfig:
    """``DemoConfig`` of a preset (``PRESETS``) with keyword overrides.

    Raises:
        ValueError: an unknown preset, an unknown parameter (the message lists the valid ones) or a bad value.
    """
    if preset not in PRESETS:
        raise ValueError(f"demo preset {preset!r}: expected one of {sorted(PRESETS)}")
    params = {**PRESETS[preset], **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}}
    return from_dict(DemoConfig, params, "demo", "parameters")


def manifest(seed: int, config: DemoConfig) -> dict:
    """What ``demo.json`` holds: identifies a dataset exactly (the cache key)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"demo seed={seed!r}: expected a non-negative integer")
    params = dataclasses.asdict(config)
    if config.preset == "easy":  # as before presets existed: easy demos keep their demo.json and caches
        return {"generator": "preprocessing.demo", "version": VERSION, "seed": int(seed),
                "params": json.loads(json.dumps({k: v for k, v in params.items() if k not in HARD_FIELDS}))}
    defaults = DemoConfig.__dataclass_fields__
    params = {k: v for k, v in params.items() if k not in LATER_FIELDS or v != defaults[k].default}
    return {"generator": "preprocessing.demo", "version": VERSION, "preset": config.preset,
            "preset_version": PRESET_VERSIONS[config.preset], "seed": int(seed),
            "params": json.loads(json.dumps(params))}
