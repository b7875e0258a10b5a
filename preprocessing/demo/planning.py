"""Planning a demo: its class counts, subjects and every clip's parameters, from the seed alone (nothing rendered).

``plan_demo`` draws what ``writing.py`` then renders and writes; the same seed and configuration give the same plan.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from preprocessing.annotations.sample import LABELS
from preprocessing.demo import hard
from preprocessing.demo.class_design import class_design
from preprocessing.demo.config import DemoConfig
from preprocessing.demo.faces import BASE_FACES, identity_faces
from preprocessing.demo.motions import EMOTIONS
from preprocessing.demo.render import ClipPlan

# Class shares of the MEGC2019 composite set (negative 250, positive 109, surprise 83 of 442 clips).
CLASS_SHARES = {"negative": 250 / 442, "positive": 109 / 442, "surprise": 83 / 442}
DISGUST_SHARE = 63 / 90  # disgust : repression in CASME II (63 : 27)


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
