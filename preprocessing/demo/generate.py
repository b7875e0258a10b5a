"""Generate the built-in demo dataset in the CASME II on-disk layout, and cache it.

Layout written under ``root``::

    CASME2_RAW_selected/subNN/EPxx_yy[f]/img<N>.jpg   frames onset..offset (absolute numbers, not from 1)
    CASME2-coding-demo.xlsx                             the real sheet's header and cell types
    ground_truth.json                                   every subject's identity and every clip's parameters
    ground_truth/subNN_EPxx_yy[f].npz                   exact motion fields (see ``ground_truth.py``)
    checksums.json                                      sha256 of every file above (a damaged cache is redone)
    demo.json                                           generator version, seed and parameters (cache key)

The same seed and parameters give byte-identical files (with the same numpy / OpenCV / dlib / openpyxl builds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mer_ray.infra.hashing import file_sha256
from mer_ray.infra.locks import exclusive, keyed_lock_path
from mer_ray.infra.runtime import cache_root
from mer_ray.infra.validation import from_dict
from preprocessing.annotations.sample import LABELS, DatasetError
from preprocessing.demo import hard
from preprocessing.demo.class_design import STRUCTURES, class_design
from preprocessing.demo.faces import (
    BASE_FACES,
    IdentityConfig,
    Subject,
    detect_landmarks,
    identity_faces,
    load_base_face,
    make_subject,
)
from preprocessing.demo.files import write_coding_sheet, write_json, write_npz
from preprocessing.demo.motions import EMOTIONS
from preprocessing.demo.render import HARD_FIELDS as HARD_PLAN_FIELDS
from preprocessing.demo.render import ClipPlan, RenderedClip, render_clip

logger = logging.getLogger(__name__)

VERSION = 1  # bump whenever the output for a given seed and parameters changes: invalidates every cache
FRAMES_DIR = "CASME2_RAW_selected"
SHEET_NAME = "CASME2-coding-demo.xlsx"
MANIFEST = "demo.json"
CHECKSUMS = "checksums.json"  # relative path -> sha256 of every other file; written just before demo.json
GROUND_TRUTH = "ground_truth.json"
GROUND_TRUTH_DIR = "ground_truth"

# Class shares of the MEGC2019 composite set (negative 250, positive 109, surprise 83 of 442 clips).
CLASS_SHARES = {"negative": 250 / 442, "positive": 109 / 442, "surprise": 83 / 442}
DISGUST_SHARE = 63 / 90  # disgust : repression in CASME II (63 : 27)
MAX_IDENTITY_DRAWS = 20
MAX_POSE_DRAWS = 20
MAX_LANDMARK_ERROR = 3.0  # px, mean over the 68 points of dlib's fit on a subject's neutral face vs. the truth
MAX_ONSET_ERROR = 4.5  # px, the same on a clip's rendered onset frame (head pose, light and noise applied)


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
LATER_FIELDS = ("one_sided_weight", "crossing_weight", "combinations_per_class", "class_structure")
HARD_VERSION = 1  # bump whenever the hard preset's output for a given seed changes (the easy demo keeps VERSION)
REALISTIC_VERSION = 1  # the same for the realistic preset
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


def class_counts(n_clips: int) -> dict[str, int]:
    """Clips per class with the composite set's shares (largest remainder; every class at least once from 3)."""
    raw = {label: CLASS_SHARES[label] * n_clips for label in LABELS}
    counts = {label: int(np.floor(v)) for label, v in raw.items()}
    for label in sorted(LABELS, key=lambda k: counts[k] - raw[k])[: n_clips - sum(counts.values())]:
        counts[label] += 1
    if n_clips >= 3:
        for label in LABELS:
            if counts[label] == 0:
                counts[label] = 1
                counts["negative"] -= 1
    return counts


def _clip_names(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct CASME II-style clip names (``EP02_01f``), sorted."""
    pool = [(ep, k) for ep in range(1, 21) for k in range(1, 10)]
    picks = rng.choice(len(pool), size=count, replace=count > len(pool))
    names = {f"EP{pool[i][0]:02d}_{pool[i][1]:02d}" for i in picks}
    extra = 10
    while len(names) < count:  # more clips than the EP pool: extend the second number
        names.add(f"EP{int(rng.integers(1, 21)):02d}_{extra:02d}")
        extra += 1
    return [name + ("f" if rng.random() < 0.4 else "") for name in sorted(names)]  # sorted: set order varies


def plan_demo(seed: int, config: DemoConfig) -> tuple[list[dict], list[ClipPlan]]:
    """Draw every subject's base face and random stream and every clip's parameters (no rendering: cheap).

    Each subject and clip has its own generator seeded from ``(seed, kind, index)``, so one clip's draws do not
    depend on how many clips came before it. The hard preset draws on top, from streams of its own, so that the
    easy demo's draws stay what they were.

    Returns:
        ``(subjects, clips)``: subject dicts (name, base face, seed words, intensity, asymmetry; the hard preset's
        ``style``) and clip plans sorted by subject then clip name.
    """
    plan_rng = np.random.default_rng([seed, 0])
    first_base = int(plan_rng.integers(len(BASE_FACES)))
    labels = [label for label in LABELS for _ in range(class_counts(config.n_clips)[label])]
    labels = [labels[i] for i in plan_rng.permutation(len(labels))]
    hard_preset = config.preset != "easy"  # hard and realistic: hard.py's machinery
    design = class_design(seed, config.class_structure) if hard_preset else None
    faces = BASE_FACES[first_base:] + BASE_FACES[:first_base]
    if hard_preset:  # every subject its own identity while there are enough (28 for the four photos)
        faces = identity_faces() if config.blend_identities else BASE_FACES
        faces = tuple(faces[i] for i in np.random.default_rng([seed, 7]).permutation(len(faces)))
    subjects, clips = [], []
    for s in range(config.n_subjects):
        srng = np.random.default_rng([seed, 1, s])
        subject = {
            "name": f"sub{s + 1:02d}",
            "base_face": faces[s % len(faces)],
            "seed_words": [seed, 2, s],
            "intensity": float(srng.uniform(*config.subject_intensity)),
            "asymmetry": float(np.clip(srng.normal(0.0, config.subject_asymmetry), -0.5, 0.5)),
        }
        if hard_preset:
            subject["style"] = hard.subject_style(np.random.default_rng([seed, 5, s]), config.idiosyncrasy,
                                                  config.preference_concentration, design.mixtures)
        subjects.append(subject)
        names = _clip_names(srng, config.clips_per_subject)
        for c, name in enumerate(names):
            index = s * config.clips_per_subject + c
            plan = _plan_clip(np.random.default_rng([seed, 3, s, c]), config, subject, name, labels[index],
                              cross_hundred=index % 5 == 0)
            if hard_preset:
                plan = dataclasses.replace(plan, **hard.harden_clip(
                    np.random.default_rng([seed, 6, s, c]), config, subject["style"], plan.label, plan.n_frames,
                    plan.apex_index, plan.asymmetry, design))
            clips.append(plan)
    return subjects, clips


def _plan_clip(rng: np.random.Generator, config: DemoConfig, subject: dict, name: str, label: str,
               cross_hundred: bool) -> ClipPlan:
    n = int(rng.integers(config.min_frames, config.max_frames + 1))
    if label == "negative":
        emotion = "disgust" if rng.random() < DISGUST_SHARE else "repression"
    else:
        emotion = {"positive": "happiness", "surprise": "surprise"}[label]
    choices = EMOTIONS[emotion][1]
    action_units = choices[int(rng.integers(len(choices)))]
    # frame numbers: CASME II's are absolute; some clips cross 99 -> 100 so that sorting must be numeric
    onset = 100 - int(rng.integers(2, n - 1)) if cross_hundred else int(rng.integers(11, 400))
    apex_index = int(rng.integers(max(1, round(0.3 * n)), max(2, round(0.6 * n)) + 1))
    apex_index = min(max(apex_index, 1), n - 2)
    low, high = config.amplitude
    amplitude = float(np.exp(rng.uniform(np.log(low), np.log(high)))) * subject["intensity"]
    amplitude = float(np.clip(amplitude, *config.amplitude_limits))
    asymmetry = float(np.clip(subject["asymmetry"] + rng.normal(0.0, 0.1), -0.6, 0.6))
    drift_angle = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(0, config.drift_px) * np.array([np.cos(drift_angle), np.sin(drift_angle)])
    blink = rng.random() < config.blink_probability
    duration = int(rng.integers(3, max(4, n // 2) + 1))
    start = int(rng.integers(1, n - 1)) if blink else -1
    return ClipPlan(
        subject=subject["name"], clip=name, emotion=emotion, label=label, action_units=tuple(action_units),
        onset=onset, n_frames=n, apex_index=apex_index, release=float(rng.uniform(0.7, 1.0)),
        amplitude_224=amplitude, asymmetry=asymmetry,
        head_rotation_deg=float(rng.uniform(-config.pose_deg, config.pose_deg)),
        head_translation=tuple(float(v) for v in rng.uniform(-config.pose_px, config.pose_px, size=2)),
        drift_rotation_deg=float(rng.uniform(-config.drift_deg, config.drift_deg)),
        drift_translation=(float(drift[0]), float(drift[1])),
        tremor_px=float(rng.uniform(0, config.tremor_px)), tremor_period=float(rng.uniform(6, 14)),
        tremor_phase=float(rng.uniform(0, 2 * np.pi)),
        blink_start=start, blink_duration=duration, blink_closure=float(rng.uniform(0.6, 1.0)) if blink else 0.0,
        gain_drift=float(rng.uniform(-config.illumination_drift, config.illumination_drift)),
        gradient_drift=float(rng.uniform(-config.illumination_drift, config.illumination_drift)),
        gradient_angle_deg=float(rng.uniform(0, 360)),
        noise_sigma=float(rng.uniform(*config.noise_sigma)), noise_seed=int(rng.integers(2**31)),
    )


def _onset_fit_error(frame: np.ndarray, truth: np.ndarray) -> float:
    """Mean error (px) of dlib's 68 points on an RGB frame vs. the true landmarks; inf unless exactly one face."""
    found = detect_landmarks(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), upsample=0)
    return float(np.abs(found[0] - truth).mean()) if len(found) == 1 else float("inf")


def _render_detectable(subject: Subject, plan: ClipPlan, config: DemoConfig, seed: int,
                       index: tuple[int, int]) -> tuple[ClipPlan, RenderedClip, int]:
    """Render a clip, re-drawing its static head pose until dlib fits the onset frame within ``MAX_ONSET_ERROR``.

    Returns:
        ``(plan, rendered, draws)``: the plan actually rendered (pose possibly redrawn) and how many poses it took.
    """
    for attempt in range(MAX_POSE_DRAWS):
        if attempt:
            rng = np.random.default_rng([seed, 4, *index, attempt])
            plan = dataclasses.replace(
                plan, head_rotation_deg=float(rng.uniform(-config.pose_deg, config.pose_deg)),
                head_translation=tuple(float(v) for v in rng.uniform(-config.pose_px, config.pose_px, size=2)))
        rendered = render_clip(subject, plan)
        if _onset_fit_error(rendered.frames[0], rendered.landmarks_onset) <= MAX_ONSET_ERROR:
            return plan, rendered, attempt + 1
    raise RuntimeError(f"demo clip {plan.subject}/{plan.clip}: dlib fits no onset frame out of {MAX_POSE_DRAWS} "
                       f"head poses within {MAX_ONSET_ERROR} px; dlib or the photo changed?")


def _write_clip(root: Path, plan: ClipPlan, rendered: RenderedClip, subject: Subject, quality: int,
                hard_preset: bool) -> dict:
    folder = root / FRAMES_DIR / plan.subject / plan.clip
    folder.mkdir(parents=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    for number, frame in zip(plan.frame_numbers, rendered.frames):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise OSError(f"OpenCV could not encode {folder / f'img{number}.jpg'}")
        (folder / f"img{number}.jpg").write_bytes(data.tobytes())
    # flat file names: a ground_truth/subNN/ tree would look like a second CASME II frames folder
    truth_path = f"{GROUND_TRUTH_DIR}/{plan.subject}_{plan.clip}.npz"
    (root / GROUND_TRUTH_DIR).mkdir(exist_ok=True)
    arrays = {
        "micro": rendered.micro, "expression": rendered.expression, "blink": rendered.blink,
        "profile": rendered.profile, "closure": rendered.closure, "head": rendered.head,
        "frame_numbers": np.asarray(plan.frame_numbers, dtype=np.int64),
        "landmarks_onset": rendered.landmarks_onset,
    }
    if hard_preset:  # zeros when the clip has no distractor, so that every hard clip has the same arrays
        arrays["distractor"] = (rendered.distractor if rendered.distractor is not None
                                else np.zeros_like(rendered.expression))
        arrays["distractor_profile"] = (rendered.distractor_profile if rendered.distractor_profile is not None
                                        else np.zeros_like(rendered.profile))
    write_npz(root / truth_path, arrays)
    record = dataclasses.asdict(plan)
    blink_frames = [n for n, c in zip(plan.frame_numbers, rendered.closure) if c > 0]
    if hard_preset:  # the truth next to what the sheet says
        record.update(sheet_label=plan.sheet_label, sheet_emotion=plan.sheet_emotion, sheet_apex=plan.sheet_apex,
                      sheet_label_index=LABELS.index(plan.sheet_label),
                      sheet_action_units=hard.sheet_action_units(plan.components), jpeg_quality=quality)
    else:  # as before presets existed
        record = {k: v for k, v in record.items() if k not in HARD_PLAN_FIELDS}
    record.update(apex=plan.apex, offset=plan.offset, label_index=LABELS.index(plan.label),
                  amplitude_px=rendered.amplitude_px, face_size_px=subject.face_size, base_face=subject.base,
                  blink_frames=blink_frames, landmarks_onset=rendered.landmarks_onset,
                  ground_truth=truth_path)
    return record


def _detectable_subject(spec: dict, shape: tuple[int, int], identity: IdentityConfig) -> Subject:
    """The subject's identity, redrawn (same generator, next draws) until dlib sees one face and fits it well.

    A real dataset keeps only subjects whose faces a detector handles; here some identity warps of the
    glasses-wearing base face make dlib's 68-point fit drift by 10-20 px, so those draws are skipped.
    """
    rng = np.random.default_rng(spec["seed_words"])
    base = load_base_face(spec["base_face"])
    for attempt in range(MAX_IDENTITY_DRAWS):
        subject = make_subject(spec["name"], base, shape, rng, identity)
        grey = cv2.cvtColor(np.clip(np.rint(subject.image), 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        fits = [detect_landmarks(grey, upsample) for upsample in (0, 1)]
        if all(len(found) == 1 for found in fits):
            error = float(np.abs(fits[0][0] - subject.landmarks).mean())
            if error <= MAX_LANDMARK_ERROR:
                spec["identity_draws"] = attempt + 1
                return subject
    raise RuntimeError(f"demo subject {spec['name']} ({spec['base_face']}): no identity draw out of "
                       f"{MAX_IDENTITY_DRAWS} that dlib fits within {MAX_LANDMARK_ERROR} px; dlib or the photo "
                       "changed?")


def _write_dataset(root: Path, seed: int, config: DemoConfig) -> None:
    subjects, plans = plan_demo(seed, config)
    shape = (config.height, config.width)
    identity = IdentityConfig().scaled(config.identity_variation)
    hard_preset = config.preset != "easy"  # hard and realistic: hard.py's machinery
    built: dict[str, Subject] = {}
    for spec in subjects:
        built[spec["name"]] = _detectable_subject(spec, shape, identity)
        spec["identity"] = built[spec["name"]].params
        spec["landmarks_neutral"] = built[spec["name"]].landmarks
    records = []
    for index, plan in enumerate(plans):
        subject_index, clip_index = divmod(index, config.clips_per_subject)
        plan, rendered, draws = _render_detectable(built[plan.subject], plan, config, seed,
                                                   (subject_index, clip_index))
        records.append(_write_clip(root, plan, rendered, built[plan.subject],
                                   plan.jpeg_quality or config.jpeg_quality, hard_preset))
        records[-1]["pose_draws"] = draws
    write_coding_sheet(root / SHEET_NAME, [
        {"subject": r["subject"].removeprefix("sub"), "clip": r["clip"], "onset": r["onset"],
         "apex": r.get("sheet_apex", r["apex"]), "offset": r["offset"],
         "action_units": r.get("sheet_action_units", r["action_units"]),
         "emotion": r.get("sheet_emotion", r["emotion"])} for r in records
    ])
    write_json(root / GROUND_TRUTH, {"version": VERSION, "seed": seed, "subjects": subjects, "clips": records})
    write_json(root / CHECKSUMS, _checksums(root))
    write_json(root / MANIFEST, manifest(seed, config))  # last: only a complete dataset has it


def _checksums(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in (MANIFEST, CHECKSUMS))
    return {p.relative_to(root).as_posix(): file_sha256(p) for p in files}


def damaged_files(root: Path) -> list[str] | None:
    """Files of the demo at ``root`` missing or changed since generation (relative paths); None when it has no
    ``checksums.json`` (made before checksums were recorded, or not a demo)."""
    try:
        recorded = json.loads((Path(root) / CHECKSUMS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [name for name, digest in recorded.items()
            if not (Path(root) / name).is_file() or file_sha256(Path(root) / name) != digest]


def generate_demo(root: Path, *, seed: int = 0, preset: str = "easy", **size_params) -> Path:
    """Write the demo dataset to ``root`` (replacing an older demo there), atomically.

    The dataset is written into a temporary folder beside ``root`` and renamed into place, so an interrupted
    generation never leaves a half dataset that looks complete.

    Args:
        root: output folder; created, or replaced if it holds a demo (a ``demo.json``).
        seed: random seed; the same seed, preset and parameters give byte-identical files.
        preset: ``"easy"`` (the quick smoke dataset), ``"hard"`` (``PRESETS``; README, "Hard preset") or
            ``"realistic"`` (hard's machinery, calibrated on the methods' ordering; docs/realism.md).
        **size_params: ``DemoConfig`` fields on top of the preset, e.g. ``n_subjects``, ``clips_per_subject``,
            ``min_frames``, ``max_frames``, ``height``, ``width`` (``SMALL_DEMO`` is a tiny set).

    Returns:
        ``root``.

    Raises:
        DatasetError: ``root`` exists, is not empty and is not a demo dataset (nothing is overwritten).
    """
    config = make_config(preset, **size_params)
    expected = manifest(seed, config)  # validates the seed before anything is written
    root = Path(root).expanduser().resolve()
    ours = (root / MANIFEST).is_file() or (root / CHECKSUMS).is_file()  # a demo, maybe half-deleted
    if root.exists() and not ours and (not root.is_dir() or any(root.iterdir())):
        raise DatasetError(f"{root} exists and is not a demo dataset (no {MANIFEST}); refusing to overwrite it. "
                           f"Give an empty or new folder.")
    root.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial, stale = root.parent / f".{root.name}.partial-{tag}", root.parent / f".{root.name}.stale-{tag}"
    try:
        partial.mkdir()
        _write_dataset(partial, seed, config)
        if root.exists():  # an older demo: move it aside, swap the new one in, then delete it
            root.rename(stale)
        try:
            partial.rename(root)
        except OSError:
            if _read_manifest(root) != expected:  # not a concurrent twin that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)
    return root


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(root: Path, *, seed: int = 0, preset: str = "easy", **size_params) -> bool:
    """Whether ``root`` holds a complete, intact demo of this generator version, seed, preset and parameters.

    Intact: every file of ``checksums.json`` is there with its recorded sha256. A demo made before checksums were
    recorded (no ``checksums.json``) is not current: it is generated again once.
    """
    root = Path(root).expanduser()
    if _read_manifest(root) != manifest(seed, make_config(preset, **size_params)):
        return False
    return damaged_files(root) == []


def default_root(seed: int = 0, preset: str = "easy", **size_params) -> Path:
    """Cache folder of a demo: ``$MER_RAY_CACHE/demo/v<VERSION>-seed<seed>``, then ``-hard<HARD_VERSION>`` for the
    hard preset, then a parameter hash when the parameters are not the preset's own."""
    config = make_config(preset, **size_params)
    name = f"v{VERSION}-seed{seed}" + ("" if preset == "easy" else f"-{preset}{PRESET_VERSIONS[preset]}")
    if config != make_config(preset):
        params = json.dumps(manifest(seed, config)["params"], sort_keys=True)
        name += f"-{hashlib.sha1(params.encode()).hexdigest()[:10]}"
    return cache_root() / "demo" / name


def ensure_demo(root: Path | None = None, *, seed: int = 0, preset: str = "easy", **size_params) -> Path:
    """The demo dataset, generated on first use and reused afterwards.

    Args:
        root: where it lives; default ``default_root(seed, preset, **size_params)`` under ``$MER_RAY_CACHE``.
        seed: random seed.
        preset: ``"easy"`` or ``"hard"`` (see ``generate_demo``).
        **size_params: ``DemoConfig`` fields (see ``generate_demo``).

    Returns:
        The dataset root (holding ``CASME2_RAW_selected/`` and ``CASME2-coding-demo.xlsx``). An existing folder
        is reused only when its ``demo.json`` matches this generator version, seed, preset and parameters and
        its files match ``checksums.json`` (none missing or changed); otherwise the demo is generated again. One
        process generates a folder at a time (a file lock under ``$MER_RAY_CACHE/locks``): a second one waits.
    """
    config = make_config(preset, **size_params)
    root = Path(root).expanduser().resolve() if root is not None else default_root(seed, preset, **size_params)
    if is_current(root, seed=seed, preset=preset, **size_params):
        return root
    # one generator per folder: a second process waits, then finds the first one's demo current
    with exclusive(keyed_lock_path(root), f"generating the demo dataset into {root}"):
        if is_current(root, seed=seed, preset=preset, **size_params):
            return root
        _generate_logged(root, config, seed, preset, size_params)
    return root


def _generate_logged(root: Path, config: DemoConfig, seed: int, preset: str, size_params: dict) -> None:
    if not root.exists():
        why = "first use"
    elif _read_manifest(root) != manifest(seed, config):
        why = "out of date: other generator version or parameters"
    else:
        damaged = damaged_files(root)
        why = ("made before checksums were recorded" if damaged is None
               else f"damaged: {len(damaged)} files missing or changed, e.g. {damaged[0]}")
    logger.info("generating the built-in demo dataset (%s preset) into %s (%s)", preset, root, why)
    start = time.perf_counter()
    generate_demo(root, seed=seed, preset=preset, **size_params)
    logger.info("demo dataset ready in %.1f s: %d subjects, %d clips", time.perf_counter() - start,
                config.n_subjects, config.n_clips)
