"""Write aligned faces, TV-L1 flow (u, v), optical strain and the mask of your own clips or videos (.npy + PNG).

    python -m preprocessing flow clip_frames/ video.mp4 --out flow_maps/
    python -m preprocessing flow --onset onset.png --apex apex.png --out flow_maps/

Per input, ``OUT/<NNNN_name>/`` holds ``u.npy``, ``v.npy``, ``strain.npy`` (float32, aligned-face pixels, onset ->
apex), ``mask.npy`` (uint8, 1 = kept), the same as PNG images (``u.png`` / ``v.png``: grey 128 = no motion, 0 / 255
= -/+ the scale in ``info.json``; ``strain.png`` inferno; ``flow.png`` colour wheel; ``mask.png``), the aligned
``onset_face.png`` / ``apex_face.png`` and ``info.json`` (onset, apex, spotted or not, scales, preprocessing).
``OUT/index.csv`` has one row per input. Inputs, onset / apex and bad-input handling as in
``python -m mer_ray.predict``: an input that cannot be used gets one line and the others go on.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="frame folders, videos, or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--onset", metavar="IMG", help="onset image of an onset / apex pair")
    parser.add_argument("--apex", metavar="IMG", help="apex image of an onset / apex pair")
    parser.add_argument("--onset-frame", type=int, metavar="N", help="onset frame number (default: the first)")
    parser.add_argument("--apex-frame", type=int, metavar="M", help="apex frame number (default: spotted)")
    parser.add_argument("--face-size", type=int, default=224, help="aligned face side in pixels (default 224)")
    parser.add_argument("--ray", choices=("auto", "on", "off"), default="auto",
                        help="the Ray Data pipeline: on, off, or auto (from 4 clips on)")


def run(args: argparse.Namespace) -> int:
    from mer_ray.infra.errors import as_usage_error
    from preprocessing.clip_inputs import check_usage, process_inputs, resolve_inputs
    from preprocessing.vision.clip import PreprocessConfig

    check_usage(args.inputs, args.onset, args.apex, "do")
    with as_usage_error(ValueError):
        config = PreprocessConfig.from_dict({"align": {"size": args.face_size}, "sequence": {"frames": 0}})
    out = args.out.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mer_ray_flow_"))
    try:
        items = resolve_inputs(args.inputs, work, onset_frame=args.onset_frame, apex_frame=args.apex_frame,
                               pair=(args.onset, args.apex) if args.onset else None)
        outcomes = process_inputs(items, config, work, use_ray={"auto": None, "on": True, "off": False}[args.ray])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    index = []
    for outcome in outcomes:
        row = {"input": outcome.input.name, "kind": outcome.input.kind, "status": "ok" if outcome.ok else "skipped",
               "folder": "", "onset": outcome.onset, "apex": outcome.apex,
               "apex_spotted": outcome.apex_spotted if outcome.ok else "", "warnings": "; ".join(outcome.warnings),
               "stage": outcome.stage, "reason": outcome.reason}
        if outcome.ok:
            row["folder"] = str(write_maps(out / outcome.input.sample.clip, outcome, config))
        else:
            print(f"skipped {outcome.line()}", file=sys.stderr, flush=True)
        index.append(row)
    with open(out / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(index[0]))
        writer.writeheader()
        writer.writerows(index)
    done = sum(1 for o in outcomes if o.ok)
    print(f"{done} of {len(outcomes)} inputs: flow maps in {out} (index.csv)")
    return 0 if done else 1


def write_maps(folder: Path, outcome, config) -> Path:
    """One input's arrays (.npy), images (PNG) and ``info.json`` into ``folder``."""
    import cv2
    import numpy as np

    from preprocessing.vision.flow_images import flow_to_rgb, heat, robust_max, signed_to_gray

    folder.mkdir(parents=True, exist_ok=True)
    flow, mask = outcome.arrays["flow"], outcome.arrays["mask"].astype(np.uint8)  # (4, S, S), (S, S)
    u, v, strain = (np.ascontiguousarray(flow[i], np.float32) for i in range(3))
    for name, array in (("u", u), ("v", v), ("strain", strain), ("mask", mask)):
        np.save(folder / f"{name}.npy", array)
    uv_scale = robust_max(np.concatenate([u.ravel(), v.ravel()]))
    strain_scale = robust_max(strain)
    images = {
        "onset_face.png": outcome.arrays["onset_face"],
        "apex_face.png": outcome.arrays["apex_face"],
        "mask.png": mask * 255,
        "u.png": signed_to_gray(u, uv_scale),
        "v.png": signed_to_gray(v, uv_scale),
        "strain.png": cv2.cvtColor(heat(strain, strain_scale), cv2.COLOR_RGB2BGR),
        "flow.png": cv2.cvtColor(flow_to_rgb(u, v), cv2.COLOR_RGB2BGR),
    }
    for name, image in images.items():
        cv2.imwrite(str(folder / name), image)
    info = {
        "input": outcome.input.name, "kind": outcome.input.kind, "onset": outcome.onset, "apex": outcome.apex,
        "apex_spotted": outcome.apex_spotted, "frames": outcome.input.frames, "warnings": outcome.warnings,
        "units": "u, v in aligned-face pixels (u right, v down), onset -> apex; strain dimensionless",
        "png_scales": {"u_v": uv_scale, "strain": strain_scale,
                       "u_v_meaning": "grey 128 = 0, 0 / 255 = -/+ u_v; strain.png full colour = strain"},
        "preprocess": {"config": config.to_dict(), "config_hash": config.config_hash()},
    }
    (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    return folder
