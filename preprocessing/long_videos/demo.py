"""The built-in long-video demo: neutral footage with distractors, micro- and macro-expressions placed into it,
written in the CAS(ME)^2 layout with its coding sheet and the exact ground truth.

Each subject is a real face photo made distinct by ``preprocessing.demo.faces.make_subject`` (the recognition
demo's identities); each video is that face filmed for ``seconds`` at ``fps`` with:

- blinks (every 2-6 s, 4-8 frames, the recognition demo's lid field and closed-eye image);
- speech-like mouth motion (lips part / jaw drop, AU25 / AU26 fields, modulated at ~3-5 syllables per second for
  1-3 s segments);
- head motion: slow drift (sum of low-frequency sinusoids), a faint tremor and quick repositioning moves (a
  smooth step of a few pixels and ~1 degree of roll over 0.3-0.8 s that stays);
- illumination drift (slow gain and gradient change) and sensor noise, JPEG;
- micro-expressions (7-15 frames at 30 fps, <= 0.5 s; 0.6-2.4 px at the 224-px face scale, like the recognition
  demo) and macro-expressions (0.7-3 s, 2-6 px), never overlapping each other (at least 0.5 s apart); distractors
  may overlap them, as in real footage. Emotions are CAS(ME)^2's four (positive, negative, surprise, others),
  each moving its action units (``preprocessing/demo/motions.py``).

Layout written under ``root`` (CAS(ME)^2's, see ``sheets.py``)::

    rawpic/sNN/NN_<code><description>/img1.jpg ...   frames, numbered from 1
    CAS(ME)^2code_final.xlsx                          sheets CASMEcode_final, naming rule1, naming rule2
    ground_truth.json                                 every interval with its truth, and every distractor event
    demo.json                                         generator version, seed and parameters

Deterministic: the same seed and parameters give byte-identical files (with the same numpy / OpenCV / dlib /
openpyxl builds). ``SMOKE`` is a size for tests (a few seconds to generate).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from preprocessing.annotations.sample import DatasetError
from preprocessing.demo.faces import BASE_FACES, IdentityConfig, Subject, detect_landmarks, load_base_face, make_subject
from preprocessing.demo.files import FIXED_DATE, pinned_zip, write_json
from preprocessing.demo.motions import REFERENCE_FACE, action_unit_field, blink_field, expression_profile
from preprocessing.demo.render import closed_eyes
from preprocessing.demo.warp import affine_points, invert_affine, invert_displacement, pixel_grid, remap

VERSION = 1  # bump whenever the output for a given seed and parameters changes
FRAMES_DIR = "rawpic"
SHEET_NAME = "CAS(ME)^2code_final.xlsx"
GROUND_TRUTH = "ground_truth.json"
MANIFEST = "demo.json"

# CAS(ME)^2's emotion classes -> action-unit combinations the demo moves for them (one drawn per expression).
EMOTION_AUS: dict[str, tuple[tuple[int, ...], ...]] = {
    "positive": ((12,), (6, 12)),
    "negative": ((4,), (4, 15), (15,), (9,)),
    "surprise": ((1, 2), (1, 2, 5)),
    "others": ((14,), (17,), (24,), (10,)),
}
EMOTION_SHARES = {"negative": 0.4, "positive": 0.25, "surprise": 0.15, "others": 0.2}
# Stimulus videos: (code, expression name, description); folder NN_<code><description>, as in CAS(ME)^2.
STIMULI = (
    ("0101", "disgust1", "disgustingteeth"), ("0102", "disgust2", "eatingworms"), ("0401", "anger1", "girlcrashing"),
    ("0402", "anger2", "roadrage"), ("0502", "happy1", "funnyerrors"), ("0503", "happy2", "funnyfarting"),
    ("0505", "happy3", "funnyinnovations"), ("0507", "happy4", "climbingthewall"),
)
FIRST_FOLDER = 15  # rawpic folder numbers start here (CAS(ME)^2's do)


@dataclass(frozen=True)
class LongDemoConfig:
    """Size and difficulty. Amplitudes in px at the 224-px face scale; durations in frames at ``fps``."""

    n_subjects: int = 6
    videos_per_subject: int = 2
    seconds: float = 30.0
    fps: int = 30
    height: int = 256
    width: int = 256
    face_size: tuple[float, float] = (120.0, 150.0)  # landmark-box side, px
    micro_per_video: tuple[int, int] = (1, 3)
    macro_per_video: tuple[int, int] = (2, 4)
    micro_frames: tuple[int, int] = (7, 15)  # <= 0.5 s at 30 fps
    macro_frames: tuple[int, int] = (20, 90)  # 0.7-3 s at 30 fps
    micro_amplitude: tuple[float, float] = (0.6, 2.4)  # log-uniform
    macro_amplitude: tuple[float, float] = (2.0, 6.0)
    blink_interval: tuple[float, float] = (2.0, 6.0)  # seconds between blinks
    blink_frames: tuple[int, int] = (4, 8)
    speech_rate: float = 0.06  # speech segments per second
    speech_seconds: tuple[float, float] = (1.0, 3.0)
    speech_amplitude: tuple[float, float] = (1.0, 3.0)
    head_drift_px: float = 2.0  # amplitude of the slow drift
    head_drift_deg: float = 0.8
    head_move_rate: float = 0.05  # quick repositioning moves per second
    head_move_px: tuple[float, float] = (1.5, 6.0)
    head_move_deg: float = 1.5
    head_move_seconds: tuple[float, float] = (0.3, 0.8)
    tremor_px: float = 0.1
    illumination_drift: float = 0.05
    noise_sigma: tuple[float, float] = (1.0, 2.0)
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        frames = int(round(self.seconds * self.fps))
        checks = [
            ("n_subjects", 1 <= self.n_subjects <= 60, "1..60"),
            ("videos_per_subject", 1 <= self.videos_per_subject <= len(STIMULI), f"1..{len(STIMULI)}"),
            ("seconds", frames >= self.macro_frames[1] + 3 * self.fps,
             f"at least {self.macro_frames[1] + 3 * self.fps} frames"),
            ("micro_frames", 3 <= self.micro_frames[0] <= self.micro_frames[1] <= self.fps // 2 + 1,
             f"3 <= low <= high <= half a second ({self.fps // 2 + 1} frames)"),
            ("macro_frames", self.micro_frames[1] < self.macro_frames[0] <= self.macro_frames[1],
             f"longer than the longest micro-expression ({self.micro_frames[1]} frames)"),
            ("height", self.height >= 2 * self.face_size[1] * 0.8, "room for the face"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"long-video demo parameter {name}={getattr(self, name)!r}: expected {expected}")

    @property
    def n_frames(self) -> int:
        return int(round(self.seconds * self.fps))


SMOKE: dict = {"n_subjects": 3, "videos_per_subject": 1, "seconds": 10.0}


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _smoothstep(t: np.ndarray, start: float, duration: float) -> np.ndarray:
    s = np.clip((t - start) / max(duration, 1e-9), 0.0, 1.0)
    return s * s * (3 - 2 * s)


def _place(rng: np.random.Generator, n: int, lengths: list[int], gap: int,
           margin: int) -> tuple[list[int], list[int]] | None:
    """Non-overlapping ``(onsets, lengths)`` in time order (``gap`` frames apart, ``margin`` from the ends); the
    lengths are shuffled over the places. None when 200 draws found no arrangement."""
    if not lengths:
        return [], []
    for _ in range(200):
        onsets = sorted(int(rng.integers(margin, n - margin - max(lengths))) for _ in lengths)
        order = rng.permutation(len(lengths))
        spans = sorted((o, o + lengths[i] - 1) for o, i in zip(onsets, order))
        if all(b[0] - a[1] > gap for a, b in zip(spans, spans[1:])):
            return [s[0] for s in spans], [s[1] - s[0] + 1 for s in spans]
    return None


def plan_video(rng: np.random.Generator, config: LongDemoConfig) -> dict:
    """Draw one video's expressions, distractors, head motion and lighting (JSON-ready)."""
    n, fps = config.n_frames, config.fps
    kinds = (["micro"] * int(rng.integers(config.micro_per_video[0], config.micro_per_video[1] + 1))
             + ["macro"] * int(rng.integers(config.macro_per_video[0], config.macro_per_video[1] + 1)))
    lengths = [int(rng.integers(*(config.micro_frames if k == "micro" else config.macro_frames), endpoint=True))
               for k in kinds]
    placed = None
    while placed is None:
        placed = _place(rng, n, lengths, gap=fps // 2, margin=fps)
        if placed is None:  # too crowded: drop the last expression
            kinds, lengths = kinds[:-1], lengths[:-1]
    onsets, lengths = placed
    # the kind follows the placed length (micro lengths never reach the macro range)
    micro_max = config.micro_frames[1]
    expressions = []
    names = list(EMOTION_SHARES)
    shares = np.array([EMOTION_SHARES[e] for e in names])
    for onset, length in zip(onsets, lengths):
        kind = "micro" if length <= micro_max else "macro"
        emotion = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        choices = EMOTION_AUS[emotion]
        aus = choices[int(rng.integers(len(choices)))]
        apex_index = int(np.clip(round(length * rng.uniform(0.35, 0.6)), 1, length - 2))
        amplitude = _log_uniform(rng, config.micro_amplitude if kind == "micro" else config.macro_amplitude)
        expressions.append({
            "kind": kind, "emotion": emotion, "action_units": list(aus), "onset": onset + 1,
            "apex": onset + 1 + apex_index, "offset": onset + length, "amplitude_224": amplitude,
            "release": float(rng.uniform(0.8, 1.0)), "asymmetry": float(rng.uniform(-0.2, 0.2)),
        })
    blinks, t = [], float(rng.uniform(0.3, config.blink_interval[1])) * fps
    while t < n - config.blink_frames[1]:
        blinks.append({"start": int(t), "frames": int(rng.integers(*config.blink_frames, endpoint=True)),
                       "closure": float(rng.uniform(0.6, 1.0))})
        t += rng.uniform(*config.blink_interval) * fps
    speech = []
    for _ in range(int(rng.poisson(config.speech_rate * config.seconds))):
        length = int(rng.uniform(*config.speech_seconds) * fps)
        speech.append({"start": int(rng.integers(0, max(n - length, 1))), "frames": length,
                       "aus": [25] if rng.random() < 0.5 else [25, 26],
                       "amplitude_224": float(rng.uniform(*config.speech_amplitude)),
                       "syllables_per_s": float(rng.uniform(3.0, 5.0)), "phase": float(rng.uniform(0, 2 * np.pi))})
    moves = []
    for _ in range(int(rng.poisson(config.head_move_rate * config.seconds))):
        angle = rng.uniform(0, 2 * np.pi)
        size = rng.uniform(*config.head_move_px)
        moves.append({"start": int(rng.integers(0, n)), "frames": int(rng.uniform(*config.head_move_seconds) * fps),
                      "shift": [float(size * np.cos(angle)), float(size * np.sin(angle))],
                      "roll_deg": float(rng.uniform(-config.head_move_deg, config.head_move_deg))})
    drift = {"periods_s": rng.uniform(4.0, 20.0, size=(3, 3)).tolist(), "phases": rng.uniform(0, 2 * np.pi,
             size=(3, 3)).tolist(), "weights": rng.dirichlet(np.ones(3), size=3).tolist()}
    return {"expressions": expressions, "blinks": blinks, "speech": speech, "head_moves": moves, "drift": drift,
            "tremor_period": float(rng.uniform(6, 14)), "tremor_px": float(rng.uniform(0, config.tremor_px)),
            "gain_drift": float(rng.uniform(-1, 1) * config.illumination_drift),
            "gradient_drift": float(rng.uniform(-1, 1) * config.illumination_drift),
            "gradient_angle_deg": float(rng.uniform(0, 360)),
            "noise_sigma": float(rng.uniform(*config.noise_sigma)), "noise_seed": int(rng.integers(2**31))}


def head_track(plan: dict, config: LongDemoConfig, centre: np.ndarray, face_scale: float) -> np.ndarray:
    """(n, 2, 3) neutral-face -> frame affines: slow drift + tremor + quick moves that stay."""
    n, fps = config.n_frames, config.fps
    t = np.arange(n, dtype=np.float64)
    d = plan["drift"]
    slow = [sum(w * np.sin(2 * np.pi * t / (p * fps) + ph) for w, p, ph in zip(ws, ps, phs))
            for ws, ps, phs in zip(d["weights"], d["periods_s"], d["phases"])]
    dx = config.head_drift_px * face_scale * slow[0]
    dy = config.head_drift_px * face_scale * slow[1]
    roll = config.head_drift_deg * slow[2]
    tremor = plan["tremor_px"] * np.sin(2 * np.pi * t / plan["tremor_period"])
    dx, dy = dx + 0.6 * tremor, dy + 0.8 * tremor
    for move in plan["head_moves"]:
        step = _smoothstep(t, move["start"], move["frames"])
        dx = dx + step * move["shift"][0] * face_scale
        dy = dy + step * move["shift"][1] * face_scale
        roll = roll + step * move["roll_deg"]
    affines = np.zeros((n, 2, 3))
    for i in range(n):
        theta = np.deg2rad(roll[i])
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        affines[i, :, :2] = rotation
        affines[i, :, 2] = centre + np.array([dx[i], dy[i]]) - rotation @ centre
    return affines


def _pulse(n: int, start: int, frames: int) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) - start + 1
    return np.where((t > 0) & (t < frames + 1), 0.5 * (1 - np.cos(2 * np.pi * t / (frames + 1))), 0.0)


def render_video(subject: Subject, plan: dict, config: LongDemoConfig):
    """Yield the video's frames (RGB uint8), one at a time."""
    shape = (config.height, config.width)
    n = config.n_frames
    scale = subject.face_size / REFERENCE_FACE
    fields, weights = [], []  # (field, per-frame weight)
    for e in plan["expressions"]:
        fields.append(action_unit_field(subject.landmarks, e["action_units"], e["amplitude_224"] * scale, shape,
                                        asymmetry=e["asymmetry"]))
        w = np.zeros(n)
        length = e["offset"] - e["onset"] + 1
        w[e["onset"] - 1: e["offset"]] = expression_profile(length, e["apex"] - e["onset"], release=e["release"])
        weights.append(w)
    for s in plan["speech"]:
        fields.append(action_unit_field(subject.landmarks, s["aus"], s["amplitude_224"] * scale, shape))
        t = np.arange(n) - s["start"]
        envelope = np.where((t >= 0) & (t < s["frames"]), np.sin(np.pi * np.clip(t, 0, None) / s["frames"]), 0.0)
        syllables = np.abs(np.sin(np.pi * s["syllables_per_s"] * t / config.fps + s["phase"]))
        weights.append(envelope * syllables)
    closure = np.zeros(n)
    for b in plan["blinks"]:
        closure = np.maximum(closure, b["closure"] * _pulse(n, b["start"], b["frames"]))
    if plan["blinks"]:
        fields.append(blink_field(subject.landmarks, shape))
        weights.append(closure)
        lidded = closed_eyes(subject)
    weights = np.array(weights) if weights else np.zeros((0, n))
    # the region any field can move (plus its largest displacement): the only pixels whose sampling changes
    moving = np.zeros(shape, dtype=bool)
    for f in fields:
        moving |= np.abs(f).sum(axis=-1) > 0
    grow = int(np.ceil(max((np.abs(f).max() for f in fields), default=0.0))) + 2
    reach = cv2.dilate(moving.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)
    rows, cols = np.flatnonzero(reach.any(axis=1)), np.flatnonzero(reach.any(axis=0))
    y0, y1, x0, x1 = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) if rows.size else (0, 1, 0, 1)
    corner = np.float32([x0, y0])
    crops = [f[y0:y1, x0:x1] for f in fields]
    reach_crop = reach[y0:y1, x0:x1]
    head = head_track(plan, config, subject.landmarks.mean(axis=0), scale)
    grid = pixel_grid(shape)
    angle = np.deg2rad(plan["gradient_angle_deg"])
    ramp = ((grid[..., 0] - config.width / 2) * np.cos(angle)
            + (grid[..., 1] - config.height / 2) * np.sin(angle)) / config.width
    slow = 0.5 * (1 - np.cos(np.pi * np.arange(n) / max(n - 1, 1)))  # 0 -> 1 over the video
    noise_rng = np.random.default_rng(plan["noise_seed"])
    noise_scale = np.float32(plan["noise_sigma"] / np.sqrt(1 / 6))
    for i in range(n):
        targets = affine_points(invert_affine(head[i]), grid)
        active_fields = [(c, np.float32(weights[j, i])) for j, c in enumerate(crops) if weights[j, i] > 1e-6]
        if active_fields:
            field = sum(c * w for c, w in active_fields)
            flat = targets.reshape(-1, 2)
            rel = np.rint(flat - corner).astype(np.int64)
            inside = (rel[:, 0] >= 0) & (rel[:, 0] < x1 - x0) & (rel[:, 1] >= 0) & (rel[:, 1] < y1 - y0)
            idx = np.flatnonzero(inside)
            idx = idx[reach_crop[rel[idx, 1], rel[idx, 0]]]
            if idx.size:
                flat[idx] = invert_displacement(field, flat[idx][:, None, :] - corner)[:, 0, :] + corner
        source = subject.image
        if closure[i] > 0:
            source = subject.image * np.float32(1 - closure[i]) + lidded * np.float32(closure[i])
        image = remap(source, targets)
        light = np.float32(1 + plan["gain_drift"] * slow[i]) + np.float32(plan["gradient_drift"] * slow[i]) * ramp
        image *= light[..., None]
        noise = noise_rng.random((2, config.height, config.width, 1), dtype=np.float32)
        image += (noise[0] + noise[1] - np.float32(1)) * noise_scale
        np.maximum(image, 0, out=image)
        yield cv2.convertScaleAbs(image)


def _detectable_subject(name: str, base: str, rng: np.random.Generator, shape: tuple[int, int],
                        identity: IdentityConfig) -> Subject:
    for _ in range(20):
        subject = make_subject(name, load_base_face(base), shape, rng, identity)
        grey = cv2.cvtColor(np.clip(np.rint(subject.image), 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        found = detect_landmarks(grey, 0)
        if len(found) == 1 and float(np.abs(found[0] - subject.landmarks).mean()) <= 3.0:
            return subject
    raise RuntimeError(f"long-video demo subject {name} ({base}): no identity draw that dlib fits; dlib changed?")


def _write_sheet(path: Path, code_rows: list[list], rule1: list[list], rule2: list[list]) -> None:
    """The CAS(ME)^2 coding workbook (no header rows, as the real one), byte-reproducible."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "CASMEcode_final"
    for row in code_rows:
        sheet.append(row)
    for title, rows in (("naming rule1", rule1), ("naming rule2", rule2)):
        extra = workbook.create_sheet(title)
        for row in rows:
            extra.append(row)
    props = workbook.properties
    props.creator = props.lastModifiedBy = "mer-ray long-video demo generator"
    props.created = props.modified = FIXED_DATE
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    path.write_bytes(pinned_zip(members))


def _au_cell(aus: list[int]) -> int | str:
    return int(aus[0]) if len(aus) == 1 else "+".join(str(a) for a in aus)


def generate_long_demo(root: str | Path, *, seed: int = 0, **params) -> Path:
    """Write the long-video demo under ``root`` (a new or empty folder). Returns ``root``.

    Args:
        root: output folder.
        seed: random seed (same seed and parameters: byte-identical files).
        **params: ``LongDemoConfig`` fields, e.g. ``n_subjects``, ``seconds`` (``SMOKE`` is a test size).

    Raises:
        DatasetError: ``root`` exists and is not empty.
    """
    config = LongDemoConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise DatasetError(f"{root} exists and is not empty; give a new or empty folder for the long-video demo")
    root.mkdir(parents=True, exist_ok=True)
    shape = (config.height, config.width)
    identity = dataclasses.replace(IdentityConfig(), face_size=config.face_size, offset_px=6.0)
    code_rows, rule1, rule2, subjects = [], [], [], []
    stimuli_rng = np.random.default_rng([seed, 9])
    used_stimuli: set[int] = set()
    quality = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
    for s in range(config.n_subjects):
        srng = np.random.default_rng([seed, 1, s])
        folder_number, subject_number = FIRST_FOLDER + s, s + 1
        subject = _detectable_subject(f"s{folder_number}", BASE_FACES[(s + seed) % len(BASE_FACES)], srng, shape,
                                      identity)
        rule1.append([folder_number, folder_number, subject_number])
        picks = sorted(stimuli_rng.choice(len(STIMULI), size=config.videos_per_subject, replace=False).tolist())
        videos = []
        for v, pick in enumerate(picks):
            used_stimuli.add(pick)
            code, expression_name, description = STIMULI[pick]
            plan = plan_video(np.random.default_rng([seed, 2, s, v]), config)
            name = f"{folder_number}_{code}{description}"
            folder = root / FRAMES_DIR / f"s{folder_number}" / name
            folder.mkdir(parents=True)
            for number, frame in enumerate(render_video(subject, plan, config), start=1):
                ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), quality)
                if not ok:
                    raise OSError(f"OpenCV could not encode {folder / f'img{number}.jpg'}")
                (folder / f"img{number}.jpg").write_bytes(data.tobytes())
            for index, e in enumerate(plan["expressions"], start=1):
                code_rows.append([subject_number, f"{expression_name}_{index}", e["onset"], e["apex"], e["offset"],
                                  _au_cell(e["action_units"]), e["emotion"], f"{e['kind']}-expression",
                                  e["emotion"]])
            videos.append({"video": name, "code": code, "expression_name": expression_name,
                           "n_frames": config.n_frames, "fps": config.fps, **plan})
        subjects.append({"subject": f"s{folder_number}", "subject_number": subject_number, "base_face": subject.base,
                         "identity": subject.params, "face_size_px": subject.face_size, "videos": videos})
    for pick in sorted(used_stimuli):
        code, expression_name, description = STIMULI[pick]
        rule2.append([code, expression_name, description])
    _write_sheet(root / SHEET_NAME, code_rows, rule1, rule2)
    write_json(root / GROUND_TRUTH, {"version": VERSION, "seed": seed, "fps": config.fps, "subjects": subjects})
    write_json(root / MANIFEST, {"generator": "preprocessing.long_videos.demo", "version": VERSION, "seed": seed,
                                 "params": json.loads(json.dumps(dataclasses.asdict(config)))})
    return root


def load_truth(root: str | Path) -> dict[str, list[dict]]:
    """``"sNN/<video>"`` -> the video's expressions (onset, apex, offset, kind, emotion, AUs, amplitude)."""
    truth = json.loads((Path(root) / GROUND_TRUTH).read_text(encoding="utf-8"))
    return {f"{s['subject']}/{v['video']}": v["expressions"] for s in truth["subjects"] for v in s["videos"]}
