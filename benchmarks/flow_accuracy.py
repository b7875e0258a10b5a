"""TV-L1 flow accuracy vs speed: OpenCV's defaults against the parameter set recommended for micro-expressions.

    python benchmarks/flow_accuracy.py            # all demo clips, prints the side-by-side table
    python benchmarks/flow_accuracy.py --quick    # fewer demo clips (a smoke run, ~1 min)
    python benchmarks/flow_accuracy.py --search --clips 32  # the grid search behind the defaults (~45 min here)

Data, each with exact ground truth:

(a) ``skimage.data.stereo_motorcycle()``: a real stereo pair; its ground-truth disparity is the horizontal flow
    from left to right (u = -disparity). Downscaled by ``--stereo-scale`` (0.1: 74x50 px) so disparities are a
    few pixels (1.2-5.6 px); pixels with an invalid (inf) disparity anywhere under them are not scored.
(b) demo clips (``preprocessing.demo``, CASME II layout): onset and apex aligned exactly as the pipeline does,
    ground truth = the generator's exact onset->apex flow mapped into aligned coordinates, scored inside the
    motion mask. Head drift, sensor noise, JPEG, illumination drift and blinks are in the frames. When the demo
    generator is not importable, aligned real faces (astronaut, Grace Hopper) warped by Gaussian bumps of
    0.5-3 px with an exact inverse warp stand in.
(c) larger motion at face resolution: aligned real faces with bumps of 0.5-3 px plus a global head shift of up
    to 6 px (exact warp, noise). It checks that the shallow pyramid of the recommended set still copes with head
    motion at 224 px, which (a) cannot show: OpenCV stops its pyramid at 16 px, so the 74x50 stereo pair gets
    only two levels at scaleStep 0.5.

EPE = mean endpoint error (px); ms = mean CPU time per pair on one OpenCV thread (``cv2.setNumThreads(1)``, measured
with ``time.process_time`` so other processes' load counts less), configs interleaved pair by pair so the remaining
noise hits them alike. Timings on a shared machine are still noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _demo_clips import demo_available, demo_pairs  # noqa: E402

from preprocessing.vision.alignment import FaceAligner  # noqa: E402
from preprocessing.vision.flow import FlowConfig, endpoint_error, tvl1_flow  # noqa: E402
from preprocessing.vision.masks import build_mask  # noqa: E402

DEFAULTS = FlowConfig.opencv_defaults()
CANDIDATES: dict[str, FlowConfig] = {
    "opencv-defaults": DEFAULTS,
    "recommended": FlowConfig(),
    "deep-1warp": dataclasses.replace(DEFAULTS, warps=1, epsilon=0.0075),  # OpenCV's pyramid, one warp per level
    "eps0.03-warps2": dataclasses.replace(DEFAULTS, epsilon=0.03, warps=2),  # stops early: fine on large motion only
}


@dataclass
class Pair:
    name: str
    prev: np.ndarray  # (H, W) uint8
    next: np.ndarray  # (H, W) uint8
    truth: np.ndarray  # (H, W, 2) float32
    mask: np.ndarray  # (H, W) bool, pixels scored


def stereo_pair(scale: float) -> Pair:
    """The motorcycle pair downscaled by ``scale`` with u = -disparity (left -> right) as ground truth."""
    import skimage.data

    left, right, disparity = skimage.data.stereo_motorcycle()  # disparity (H, W) float32, inf = unknown
    left, right = (cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in (left, right))
    size = (round(left.shape[1] * scale), round(left.shape[0] * scale))
    valid = np.isfinite(disparity).astype(np.float32)
    known = np.where(np.isfinite(disparity), disparity, 0).astype(np.float32)
    small_valid = cv2.resize(valid, size, interpolation=cv2.INTER_AREA)  # fraction of valid pixels below
    small_disp = cv2.resize(known, size, interpolation=cv2.INTER_AREA) / np.maximum(small_valid, 1e-6) * scale
    truth = np.zeros((*small_disp.shape, 2), np.float32)
    truth[..., 0] = -small_disp
    return Pair(
        "stereo",
        cv2.resize(left, size, interpolation=cv2.INTER_AREA),
        cv2.resize(right, size, interpolation=cv2.INTER_AREA),
        truth,
        small_valid > 0.999,
    )


def bump_pairs(aligner: FaceAligner, count: int, rng: np.random.Generator, max_shift: float = 0.0) -> list[Pair]:
    """Aligned real faces moved by Gaussian bumps (0.5-3 px) around mouth and brows, plus a global head shift of
    up to ``max_shift`` px, with an exact inverse warp and sensor noise (std 1.5 grey levels)."""
    import matplotlib.cbook
    import skimage.data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        hopper = cv2.imdecode(np.frombuffer(file.read(), np.uint8), cv2.IMREAD_GRAYSCALE)
    photos = [cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY), hopper]
    pairs = []
    for k in range(count):
        raw = photos[k % 2]
        alignment = aligner.fit(raw)
        face = aligner.apply(alignment, raw).astype(np.float32)
        yy, xx = np.mgrid[0 : face.shape[0], 0 : face.shape[1]].astype(np.float32)
        field = np.zeros((*face.shape, 2), np.float32)
        for index in (48, 54, 19, 24, 51, 57):
            cx, cy = alignment.landmarks[index]
            amplitude, angle = rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
            weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 14.0**2))
            field[..., 0] += amplitude * np.cos(angle) * weight
            field[..., 1] += amplitude * np.sin(angle) * weight
        shift, angle = rng.uniform(0, max_shift), rng.uniform(0, 2 * np.pi)
        field += np.float32([shift * np.cos(angle), shift * np.sin(angle)])
        x, y = xx.copy(), yy.copy()
        for _ in range(30):  # exact inverse warp: apex(x + field(x)) = onset(x)
            at = cv2.remap(field, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            x, y = xx - at[..., 0], yy - at[..., 1]
        apex = cv2.remap(face, x, y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        noisy = [np.clip(np.round(im + rng.normal(0, 1.5, im.shape)), 0, 255).astype(np.uint8) for im in (face, apex)]
        pairs.append(Pair(f"faces/{k}", noisy[0], noisy[1], field, build_mask(alignment.landmarks, 224) > 0))
    return pairs


def face_pairs(aligner: FaceAligner, limit: int | None) -> tuple[str, list[Pair]]:
    """(b): demo clips when the demo generator exists, else the bump fallback."""
    if demo_available():
        from preprocessing.demo import ensure_demo

        root = ensure_demo()
        pairs = [Pair(p.sample_id, p.onset, p.apex, p.truth, p.mask > 0) for p in demo_pairs(root, aligner, limit)]
        return f"demo clips ({root})", pairs
    return "aligned faces + Gaussian bumps (demo generator absent)", bump_pairs(
        aligner, limit or 8, np.random.default_rng(0)
    )


def evaluate(configs: dict[str, FlowConfig], pairs: list[Pair]) -> dict[str, tuple[float, float]]:
    """Mean EPE and mean CPU ms per pair of each config; configs interleaved per pair (rotating order)."""
    errors = {name: [] for name in configs}
    seconds = {name: 0.0 for name in configs}
    names = list(configs)
    for k, pair in enumerate(pairs):
        for name in names[k % len(names) :] + names[: k % len(names)]:
            start = time.process_time()  # CPU time of this process: robust to other processes' load
            flow = tvl1_flow(pair.prev, pair.next, configs[name])
            seconds[name] += time.process_time() - start
            errors[name].append(endpoint_error(flow, pair.truth, pair.mask))
    return {name: (float(np.mean(errors[name])), 1000 * seconds[name] / len(pairs)) for name in names}


def describe(config: FlowConfig) -> str:
    changed = {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(DEFAULTS, f.name)
    }
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "(OpenCV defaults)"


def table(
    datasets: dict[str, list[Pair]], configs: dict[str, FlowConfig], repeats: int, log: Callable[[str], None] = print
) -> dict[str, dict[str, tuple[float, float]]]:
    """Evaluate every config on every dataset (timing = best of ``repeats``) and print the side-by-side table."""
    results: dict[str, dict[str, tuple[float, float]]] = {}
    for label, pairs in datasets.items():
        runs = [evaluate(configs, pairs) for _ in range(repeats)]
        results[label] = {name: (runs[0][name][0], min(r[name][1] for r in runs)) for name in configs}
    header = f"{'config':18s}"
    for label in datasets:
        header += f" | {label + ' EPE':>14s} {'ms/pair':>8s} {'EPE ratio':>9s} {'speedup':>7s}"
    log(header)
    log("-" * len(header))
    for name in configs:
        line = f"{name:18s}"
        for label in datasets:
            epe, ms = results[label][name]
            base_epe, base_ms = results[label]["opencv-defaults"]
            line += f" | {epe:14.4f} {ms:8.1f} {epe / base_epe:9.3f} {base_ms / ms:6.2f}x"
        log(line)
    log("")
    for name, config in configs.items():
        log(f"  {name}: {describe(config)}")
    return results


def search(datasets: dict[str, list[Pair]]) -> None:
    """Grid over the solver-effort parameters (the energy's lambda, theta, tau, gamma stay at OpenCV's values).

    Ranked by: EPE within 5% of the defaults on the face pairs (the target domain), then speed on them; the stereo
    ratio is printed beside each (multi-pixel disparities on a tiny image need a deeper pyramid than faces).
    """
    grid = {
        "nscales": [3, 4, 5],
        "scaleStep": [0.5, 0.65, 0.8],
        "warps": [1, 2],
        "epsilon": [0.005, 0.0075, 0.01],
        "innnerIterations": [10, 30],
    }
    configs = {"opencv-defaults": DEFAULTS}
    for values in itertools.product(*grid.values()):
        config = dataclasses.replace(DEFAULTS, **dict(zip(grid, values)))
        if config != DEFAULTS:
            configs[describe(config)] = config
    print(f"searching {len(configs)} configs: {grid}", flush=True)
    results = {label: evaluate(configs, pairs) for label, pairs in datasets.items()}
    faces, stereo = "(b) faces", "(a) stereo"
    rows = []
    for name in configs:
        ratio = {label: results[label][name][0] / results[label]["opencv-defaults"][0] for label in datasets}
        speed = {label: results[label]["opencv-defaults"][1] / results[label][name][1] for label in datasets}
        rows.append((ratio[faces] <= 1.05, speed[faces], ratio[faces], ratio[stereo], speed[stereo], name))
    print(
        f"{'faces<=5%':9s} {'faces speedup':>13s} {'faces EPE ratio':>15s} {'stereo EPE ratio':>16s} "
        f"{'stereo speedup':>14s}  config"
    )
    for ok, speed_faces, ratio_faces, ratio_stereo, speed_stereo, name in sorted(rows, key=lambda r: (not r[0], -r[1])):
        print(f"{ok!s:9s} {speed_faces:12.2f}x {ratio_faces:15.3f} {ratio_stereo:16.3f} {speed_stereo:13.2f}x  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="16 demo clips, one timing repeat")
    parser.add_argument("--search", action="store_true", help="run the parameter grid search instead")
    parser.add_argument("--clips", type=int, default=None, help="demo clips to use (default: all; --quick: 16)")
    parser.add_argument("--repeats", type=int, default=1, help="timing repeats (best kept)")
    parser.add_argument("--stereo-scale", type=float, default=0.1, help="downscale of the motorcycle pair")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    clips = args.clips or (16 if args.quick or args.search else None)
    repeats = args.repeats

    stereo = stereo_pair(args.stereo_scale)
    disparities = -stereo.truth[..., 0][stereo.mask]
    print(
        f"(a) stereo_motorcycle x{args.stereo_scale}: {stereo.prev.shape[1]}x{stereo.prev.shape[0]} px, "
        f"disparity 5-50-95th pct {np.percentile(disparities, [5, 50, 95]).round(2).tolist()} px, "
        f"{stereo.mask.mean():.0%} of pixels scored"
    )
    aligner = FaceAligner()
    source, faces = face_pairs(aligner, clips)
    magnitudes = np.concatenate([np.linalg.norm(p.truth, axis=-1)[p.mask] for p in faces])
    print(
        f"(b) {source}: {len(faces)} pairs at {faces[0].prev.shape[0]} px, true |flow| in the mask "
        f"50-99th pct {np.percentile(magnitudes, [50, 99]).round(2).tolist()} px"
    )
    large = bump_pairs(aligner, 8, np.random.default_rng(1), max_shift=6.0)
    print(f"(c) aligned real faces: bumps of 0.5-3 px + head shift of 0-6 px, exact warp, noise: {len(large)} pairs")
    print(f"OpenCV {cv2.__version__}, 1 thread, CPU time, best of {repeats}\n")
    datasets = {"(a) stereo": [stereo] * 5, "(b) faces": faces, "(c) large": large}  # (a) is one pair: timed 5x
    if args.search:
        search(datasets)
    else:
        table(datasets, CANDIDATES, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
