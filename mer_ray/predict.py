"""Predict micro-expression classes of your own clips with a model bundle (``python -m mer_ray.fit``).

    python -m mer_ray.predict --model BUNDLE clip_frames/ video.mp4 --explain explain/ --out predictions
    python -m mer_ray.predict --model BUNDLE --onset onset.png --apex apex.png
    python -m mer_ray.predict --model BUNDLE video.mp4 --onset-frame 12 --apex-frame 31
    python -m mer_ray.predict --model BUNDLE --long recording.mp4 --out spotted/ --explain timelines/

An INPUT is a folder of numbered frames, a video (mp4 / avi / mov / mkv / m4v; frames numbered from 0), or a
folder of such clips (expanded); ``--onset IMG --apex IMG`` adds an image pair. The onset is the first frame and
the apex is spotted unless ``--onset-frame`` / ``--apex-frame`` say otherwise. The bundle's preprocessing is
applied exactly (alignment, masks, TV-L1 parameters). Writes ``PREFIX.csv`` and ``PREFIX.json`` (one row per
input: class, scores, onset and apex used, apex spotted or not, warnings or the reason it was skipped) and with
``--explain DIR`` one PNG per input. An AU bundle (``python -m mer_ray.fit --task au``) writes, instead of the
class and its scores, ``aus`` (the AUs detected, ``AU1+AU12``) and per AU ``AU12_p`` (its probability) and ``AU12``
(1 present, 0 absent; empty for an AU the bundle skipped). An input that cannot be used gets one line on stderr;
the others go on.
Exit status: 0 when at least one input was predicted, 1 when none could be, 2 for a missing or incompatible
bundle or a usage error.

``--long VIDEO...`` spots micro- and macro-expression intervals in long recordings and classifies each one's
(onset, apex) pair with the bundle (``mer_ray/deploy/long_video.py``); OUT is then a folder: one table per
video (intervals and faceless stretches, frames and seconds) and ``videos.csv``; ``--explain DIR``: a timeline PNG
per video. ``--long`` needs an emotion bundle (an AU bundle is refused).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mer_ray.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, metavar="BUNDLE", help="a bundle written by mer_ray.fit")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="frame folders, videos, or folders of them")
    p.add_argument("--onset-frame", type=int, metavar="N", help="onset frame number (default: the first frame)")
    p.add_argument("--apex-frame", type=int, metavar="M", help="apex frame number (default: spotted)")
    p.add_argument("--onset", metavar="IMG", help="onset image of an onset / apex pair")
    p.add_argument("--apex", metavar="IMG", help="apex image of an onset / apex pair")
    p.add_argument("--explain", type=Path, metavar="DIR", help="write one explanation PNG per input here")
    p.add_argument("--out", type=Path, default=Path("predictions"), metavar="PREFIX",
                   help="table prefix: writes PREFIX.csv and PREFIX.json (default: predictions)")
    p.add_argument("--ray", choices=("auto", "on", "off"), default="auto",
                   help="the Ray Data pipeline: on, off, or auto (from 4 clips on)")
    p.add_argument("--device", default="cpu", help="torch device of the model (default cpu)")
    long = p.add_argument_group("long videos (spot, then recognise)")
    long.add_argument("--long", nargs="+", metavar="VIDEO", help="spot and recognise these recordings (or folders "
                      "of them); --out is then a folder")
    long.add_argument("--spot-run", type=Path, metavar="RUN", help="take the spotting thresholds from a finished "
                      "`python -m mer_ray.spot --search baseline` run (median of its folds' choices)")
    long.add_argument("--micro-p", type=float, metavar="P", help="micro threshold T = mean + P (max - mean)")
    long.add_argument("--macro-p", type=float, metavar="P", help="macro threshold, as --micro-p")
    long.add_argument("--flow", choices=("dis", "farneback", "tvl1"), default="dis",
                      help="optical flow of the spotting scores (default dis; tvl1 is ~50x slower)")
    long.add_argument("--check-every", type=float, default=0.5, metavar="S",
                      help="seconds between face checks (dlib detection) while tracking (default 0.5)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI; the work is :func:`mer_ray.deploy.prediction.predict_command`. A usage error or a missing or
    incompatible bundle is one ``error:`` line and exit status 2."""
    args = build_parser().parse_args(argv)
    from mer_ray.deploy.bundle import BundleError
    from mer_ray.infra.errors import run_cli

    if args.long:
        from mer_ray.deploy.long_video import long_command

        return run_cli(lambda: long_command(args), user_errors=(BundleError,))
    from mer_ray.deploy.prediction import predict_command

    return run_cli(lambda: predict_command(args), user_errors=(BundleError,))


if __name__ == "__main__":
    sys.exit(main())
