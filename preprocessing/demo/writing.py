"""Writing a planned demo into a folder: rendered frames, the coding sheet, the ground truth and the checksums.

The file names of the layout (``generate.py`` describes it) are here. Subjects and clips are redrawn until dlib fits
their faces (``_detectable_subject``, ``_render_detectable``); ``damaged_files`` checks a written demo afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from mer_ray.infra.hashing import file_sha256
from preprocessing.annotations.sample import LABELS
from preprocessing.demo import hard
from preprocessing.demo.config import VERSION, DemoConfig, manifest
from preprocessing.demo.faces import IdentityConfig, Subject, detect_landmarks, load_base_face, make_subject
from preprocessing.demo.files import write_coding_sheet, write_json, write_npz
from preprocessing.demo.planning import plan_demo
from preprocessing.demo.render import HARD_FIELDS as HARD_PLAN_FIELDS
from preprocessing.demo.render import ClipPlan, RenderedClip, plan_record, render_clip
from preprocessing.demo.warp import FoldingFieldError

logger = logging.getLogger(__name__)

FRAMES_DIR = "CASME2_RAW_selected"
SHEET_NAME = "CASME2-coding-demo.xlsx"
MANIFEST = "demo.json"
CHECKSUMS = "checksums.json"  # relative path -> sha256 of every other file; written just before demo.json
GROUND_TRUTH = "ground_truth.json"
GROUND_TRUTH_DIR = "ground_truth"

MAX_IDENTITY_DRAWS = 20
MAX_POSE_DRAWS = 20
MAX_LANDMARK_ERROR = 3.0  # px, mean over the 68 points of dlib's fit on a subject's neutral face vs. the truth
MAX_ONSET_ERROR = 4.5  # px, the same on a clip's rendered onset frame (head pose, light and noise applied)


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
        plan, rendered = _render_unfolded(subject, plan)
        if _onset_fit_error(rendered.frames[0], rendered.landmarks_onset) <= MAX_ONSET_ERROR:
            return plan, rendered, attempt + 1
    raise RuntimeError(f"demo clip {plan.subject}/{plan.clip}: dlib fits no onset frame out of {MAX_POSE_DRAWS} "
                       f"head poses within {MAX_ONSET_ERROR} px; dlib or the photo changed?")


def _render_unfolded(subject: Subject, plan: ClipPlan) -> tuple[ClipPlan, RenderedClip]:
    """``render_clip``, without the clip's blink when the summed displacement folds the face onto itself.

    A full blink on top of a large expression can fold on some faces (seen once: realistic seed 6, SMIC's shape).
    The blink is a nuisance, not the label, so it is dropped and said; the returned plan, and so the ground truth,
    has no blink. Clips that render as planned are untouched, so every other demo stays byte for byte the same.

    Raises:
        RuntimeError: the clip folds without a blink too (the message names the clip and its motion).
    """
    try:
        return plan, render_clip(subject, plan)
    except FoldingFieldError as error:
        if plan.blink_start < 0:
            raise RuntimeError(f"demo clip {plan.subject}/{plan.clip}: its displacement folds the face (action units "
                               f"{list(plan.action_units)}, amplitude {plan.amplitude_224:.2f} px): {error}") from None
        logger.warning("demo clip %s/%s: blink dropped (closure %.2f at frame %d): with it the displacement folds "
                       "the face", plan.subject, plan.clip, plan.blink_closure, plan.blink_start)
        plan = dataclasses.replace(plan, blink_start=-1, blink_duration=0, blink_closure=0.0)
        return _render_unfolded(subject, plan)


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
    record = plan_record(plan)
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
