"""Time per clip of ``python -m mer_ray.predict`` on ONE core, split into its stages, for two configurations.

    python benchmarks/predict_latency.py            # 10 demo clips, 3 rounds
    python benchmarks/predict_latency.py --quick    # the small demo, 3 clips, 1 round
    python benchmarks/predict_latency.py --upscale 1.67   # 384-px demo frames as 640x640 (CASME II raw: 640x480)

A demo clip goes through what ``process_clip`` does, stage by stage, with the default preprocessing (default
TV-L1 settings): read the frames; alignment (dlib detection + 68 landmarks on the onset, the transform applied to
every frame after it, the mask); apex spotting over every frame after the onset (predict's default: no apex
given); TV-L1 flow onset -> apex and the flow features; then the model (input building + network + classifier)
of the paper's configuration (``search_spaces/paper.py`` FIXED: ShuffleNetV2 + ViT, 224-px apex face, SVM head)
and of the recommended recipe's networks (the ensemble space, 16-px flow), side by side. Network weights are
freshly initialised (latency does not depend on their values). ``process_clip`` end to end + the model is timed
too, as a check on the stage sum.
torch and OpenCV run with one thread. Each figure is the median over rounds, averaged over clips.
Goal: at most 300 ms per clip for the paper's configuration.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, print_table  # noqa: E402
from _demo_clips import demo_samples  # noqa: E402

GOAL_MS = 300.0
CONFIGS = ("paper", "ensemble")


def untrained_bundle(space_name: str, preprocess):
    """A bundle of ``space_name``'s FIXED configuration with fresh weights and unit statistics (for timing)."""
    import torch

    from mer_ray.data.inputs import in_chans
    from mer_ray.deploy.bundle import Bundle, Member
    from mer_ray.training.classifiers import head_kind
    from mer_ray.training.config import TrainConfig
    from mer_ray.training.networks import new_model
    from search_spaces import get_space

    config = TrainConfig.from_dict(dict(get_space(space_name).fixed))
    torch.manual_seed(0)
    network = new_model(config, config.modality, head_kind(config.classifier)).eval()
    channels = in_chans(config.modality)
    member = Member(network, np.zeros(channels, np.float32), np.ones(channels, np.float32))
    info = {"labels": ["negative", "positive", "surprise"]}
    return Bundle(Path("."), info, config, preprocess, [member])


def features_of(clip):
    """The in-memory FeatureSet predict builds from one processed clip."""
    import pandas as pd

    from mer_ray.data.features import FeatureSet

    meta = pd.DataFrame([{"sample_id": clip.sample_id, "dataset": "input", "subject": "input", "clip": "c",
                          "emotion": "", "label": -1, "onset": clip.onset, "apex": clip.apex, "offset": clip.apex,
                          "apex_spotted": clip.apex_spotted}])
    return FeatureSet(meta=meta, flow=np.moveaxis(clip.features, -1, 0)[None], apex_face=clip.apex_face[None],
                      mask=clip.mask[None])


def time_stages(sample, config, aligner, bundles) -> dict[str, float]:
    """Seconds of every stage of one clip (apex spotted), then ``process_clip`` end to end."""
    from preprocessing.vision.apex import spot_apex
    from preprocessing.vision.clip import process_clip, read_gray
    from preprocessing.vision.flow import flow_features, tvl1_flow
    from preprocessing.vision.masks import build_mask

    times = {}
    t0 = time.perf_counter()
    numbers = [n for n in sample.frame_numbers if sample.onset <= n <= sample.offset]
    raw = {n: read_gray(sample.frame_path(n)) for n in numbers}
    t1 = time.perf_counter()
    alignment = aligner.fit(raw[sample.onset])
    onset_face = aligner.apply(alignment, raw[sample.onset])
    mask = build_mask(alignment.landmarks, alignment.size, config.mask)
    candidates = [n for n in numbers if n > sample.onset]
    faces = [aligner.apply(alignment, raw[n]) for n in candidates]
    t2 = time.perf_counter()
    index = spot_apex(onset_face, faces, mask, config.apex)
    t3 = time.perf_counter()
    flow_features(tvl1_flow(onset_face, faces[index], config.flow))
    t4 = time.perf_counter()
    times.update(read=t1 - t0, alignment=t2 - t1, spotting=t3 - t2, flow=t4 - t3)
    clip = process_clip(replace(sample, apex=None), config, aligner)
    t5 = time.perf_counter()
    times["process_clip"] = t5 - t4
    features = features_of(clip)
    for name, bundle in bundles.items():
        start = time.perf_counter()
        bundle.predict(features)
        times[f"model {name}"] = time.perf_counter() - start
    return times


def upscaled(samples, factor: float, folder: Path):
    """Copies of the clips with every frame resized by ``factor`` (JPEG quality 95) under ``folder``."""
    import cv2

    out = []
    for i, sample in enumerate(samples):
        paths = []
        for path in sample.frames:
            image = cv2.imread(path)
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
            target = folder / f"clip{i}" / Path(path).name
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            paths.append(str(target))
        out.append(replace(sample, frames=tuple(paths)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small demo, 3 clips, 1 round")
    parser.add_argument("--clips", type=int, default=10, help="demo clips timed (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per clip; the median counts (default 3)")
    parser.add_argument("--upscale", type=float, default=1.0,
                        help="resize the raw frames by this factor first (detection cost grows with the pixels)")
    args = parser.parse_args(argv)
    if args.clips < 1 or args.rounds < 1:
        parser.error("--clips and --rounds must be at least 1")
    import cv2
    import torch

    from preprocessing.demo import SMALL_DEMO, ensure_demo
    from preprocessing.vision.alignment import FaceAligner
    from preprocessing.vision.clip import PreprocessConfig, SequenceConfig

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    clips, rounds = (3, 1) if args.quick else (args.clips, args.rounds)
    root = ensure_demo(**SMALL_DEMO) if args.quick else ensure_demo()
    samples = [s for s, _ in demo_samples(root)][:clips]
    scratch = tempfile.TemporaryDirectory(prefix="predict_latency_")
    if args.upscale != 1.0:
        samples = upscaled(samples, args.upscale, Path(scratch.name))
    height, width = cv2.imread(samples[0].frames[0]).shape[:2]
    config = replace(PreprocessConfig(), sequence=SequenceConfig(frames=0))  # what predict processes
    start = time.perf_counter()
    aligner = FaceAligner(config.align)
    load_s = time.perf_counter() - start
    bundles = {name: untrained_bundle(name, config) for name in CONFIGS}
    for bundle in bundles.values():  # warm-up: first calls allocate
        time_stages(samples[0], config, aligner, {k: bundle for k in ("warm-up",)})
    per_clip: list[dict[str, float]] = []
    for sample in samples:
        runs = [time_stages(sample, config, aligner, bundles) for _ in range(rounds)]
        per_clip.append({key: statistics.median(r[key] for r in runs) for key in runs[0]})
    ms = {key: 1000 * float(np.mean([c[key] for c in per_clip])) for key in per_clip[0]}
    frames = [len(s.frames) for s in samples]
    print(f"{len(samples)} demo clips ({min(frames)}-{max(frames)} frames of {width}x{height}, {root}), "
          f"{rounds} rounds, 1 thread; {machine_line()}")
    print(f"one-time: dlib detector + predictor load {1000 * load_s:.0f} ms (once per process / Ray actor)")
    shared = ("read", "alignment", "spotting", "flow")
    rows = [[stage, f"{ms[stage]:.1f}", f"{ms[stage]:.1f}"] for stage in shared]
    rows.append(["model", *(f"{ms[f'model {name}']:.1f}" for name in CONFIGS)])
    totals = {name: sum(ms[s] for s in shared) + ms[f"model {name}"] for name in CONFIGS}
    rows.append(["**total (stages)**", *(f"**{totals[name]:.1f}**" for name in CONFIGS)])
    rows.append(["process_clip end to end + model (check)",
                 *(f"{ms['process_clip'] + ms[f'model {name}']:.1f}" for name in CONFIGS)])
    print_table(["stage (ms per clip, 1 core)", "paper (shufflenet_v2_vit, 224-px apex, SVM)",
                 "ensemble (shufflenet_v2, 16-px flow)"], rows, "predict latency per clip")
    share = {stage: ms[stage] / totals["paper"] for stage in shared}
    print("\nshare of the paper configuration's time: " + ", ".join(f"{s} {v:.0%}" for s, v in share.items())
          + f", model {ms['model paper'] / totals['paper']:.0%}")
    verdict = "met" if totals["paper"] <= GOAL_MS else "NOT met"
    print(f"goal <= {GOAL_MS:.0f} ms per clip (paper's configuration, default flow settings): {verdict} "
          f"({totals['paper']:.0f} ms; ensemble {totals['ensemble']:.0f} ms)")
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
