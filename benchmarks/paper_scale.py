"""LOSO at paper scale: wall time of the `paper` configuration on a set shaped like the MEGC2019 composite.

    python benchmarks/paper_scale.py                      # 2 folds measured on this CPU, extrapolated to 68 folds
    python benchmarks/paper_scale.py --build-demo         # first build the paper-scale demo features (cached)
    python benchmarks/paper_scale.py --epochs 2           # quicker estimate: 2 + 2 epochs, scaled to 20 + 20
    python benchmarks/paper_scale.py --synthetic          # random arrays of the same shapes (clearly labelled)
    python benchmarks/paper_scale.py --quick              # tiny synthetic set at 64 px: a smoke run, not a figure
    python benchmarks/paper_scale.py --device cuda --trials-per-gpu 4   # all 68 folds through Ray Tune, measured
    python benchmarks/paper_scale.py --space ensemble --synthetic       # another space's fixed recipe (default paper)

Data (68 subjects, 442 clips, 224 px faces, like the composite's SMIC + CASME II + SAMM):

- the paper-scale demo: ``ensure_demo(seed=0, n_subjects=68, clips_per_subject=7)`` (476 clips), of which every
  second subject (in sorted order) loses its last clip: 34 x 7 + 34 x 6 = 442 clips. Preprocessed once with
  ``build_features`` into the feature cache (``--build-demo``; the time is printed). Used by default when cached.
- ``--synthetic``: a ``FeatureSet`` of random arrays with the same shapes and class shares. Training time does not
  depend on pixel values; it is used when the demo cache is missing, and the output says so.

Configuration: ``search_spaces.paper``'s fixed settings (ShuffleNetV2 + ViT, 224 px, flow pretraining 20 epochs,
apex-face
fine-tuning 20 epochs, batch 32, hinge / SVM head); ``--epochs N`` sets both phases to N for a quick estimate.

CPU (default): ``train_fold`` on K held-out subjects (``--folds``, default 2, evenly spaced in sorted order) with
torch on ``--threads`` threads (default 1, like a Tune trial with cpus_per_trial=1), one after the other. Per-epoch
times come from ``train_fold``'s per-epoch log lines; a fold at 20 + 20 epochs = its set-up and prediction time +
20 x the pretraining epoch + 20 x the fine-tuning epoch. The full LOSO is extrapolated: ceil(68 / P) x that fold
time with P = CPUs / threads trials at a time, assuming trials in parallel run as fast as one alone (on a shared
memory bus they do not quite: ``benchmarks/tune_overhead.py`` measures that efficiency).

GPU (``--device cuda``): every fold through ``run_tune`` with gpus_per_trial = 1 / ``--trials-per-gpu`` and the
CPUs shared out among the trials: a MEASURED wall time (goal: under 10 minutes for all 68 folds on one H100).
``--tune`` runs the same measured path on the CPU (slow at paper scale; with ``--quick`` it is the smoke test).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    Shape,
    array_bytes,
    cpu_count,
    fmt_s,
    machine_line,
    print_table,
    synthetic_features,
)

from mer_ray.infra.runtime import init_ray  # noqa: E402

PAPER_SUBJECTS = 68
PAPER_CLIPS = 442
DEMO_CLIPS_PER_SUBJECT = 7  # 68 x 7 = 476, trimmed to 442
GOAL_GPU_SECONDS = 600  # all 68 folds on one H100
QUICK = {"subjects": 6, "clips": 24, "size": 64, "epochs": 2, "folds": 1}  # --quick: exercises the code only


# ---- data --------------------------------------------------------------------------------------------------


def paper_selection():
    """The paper-scale demo selection: 68 subjects x 7 clips, trimmed to 442 (deterministic)."""
    from preprocessing.features.prepare import select_samples

    selection = select_samples(
        ["demo"], {"demo": {"n_subjects": PAPER_SUBJECTS, "clips_per_subject": DEMO_CLIPS_PER_SUBJECT}}
    )
    samples = sorted(selection.protocol.samples, key=lambda s: s.sample_id)
    subjects = sorted({s.subject for s in samples})
    last = {subject: max(s.sample_id for s in samples if s.subject == subject) for subject in subjects[1::2]}
    kept = [s for s in samples if last.get(s.subject) != s.sample_id]
    protocol = dataclasses.replace(selection.protocol, samples=kept)
    return dataclasses.replace(selection, protocol=protocol)


def paper_features_dir(selection) -> Path:
    from preprocessing.features.prepare import default_features_dir
    from preprocessing.vision.clip import PreprocessConfig

    return default_features_dir(selection, PreprocessConfig(), False)


def build_demo() -> Path:
    """Generate (if needed) and preprocess the paper-scale demo into the feature cache; prints both times."""
    import ray

    from preprocessing.features.prepare import build_features

    start = time.perf_counter()
    selection = paper_selection()  # generates the 476-clip demo on first use
    print(f"paper-scale demo: {len(selection.protocol.samples)} clips selected "
          f"({fmt_s(time.perf_counter() - start)} incl. generating the demo frames if they were missing)", flush=True)
    out = paper_features_dir(selection)
    if (out / "manifest.json").is_file():
        print(f"features already cached in {out}")
        return out
    init = init_ray(num_cpus=cpu_count(), progress_bars=False, fresh=True)
    start = time.perf_counter()
    summary = build_features(selection, out)
    seconds = time.perf_counter() - start
    ray.shutdown()
    print(f"preprocessing {summary.total} clips took {fmt_s(seconds)} on {cpu_count()} CPUs "
          f"({summary.total / seconds:.2f} clips/s; + ray.init {init:.1f} s); {summary.processed} ok, "
          f"{summary.rejected} rejected -> {out}", flush=True)
    return out


def load_data(args):
    """(features, a line saying what they are); the demo cache when present, else random arrays (labelled)."""
    if args.quick:
        shape = Shape(subjects=QUICK["subjects"], clips=QUICK["clips"], size=QUICK["size"])
        return synthetic_features(shape), f"SYNTHETIC random arrays, quick smoke shape {shape} (not paper scale)"
    if not args.synthetic:
        out = build_demo() if args.build_demo else _cached_demo_dir()
        if out is not None:
            from mer_ray.data.features import load_features

            data = load_features(out)
            return data, f"paper-scale demo features {out}"
        print("NOTE: the paper-scale demo features are not cached (run with --build-demo once, ~10 min on 2 cores); "
              "using random arrays of the same shapes instead", flush=True)
    shape = Shape(subjects=PAPER_SUBJECTS, clips=PAPER_CLIPS, size=224)
    return synthetic_features(shape), "SYNTHETIC random arrays shaped like the composite (68 subjects, 442 clips)"


def _cached_demo_dir() -> Path | None:
    """The paper-scale demo's features folder if complete, without generating anything."""
    from preprocessing.demo import is_current
    from preprocessing.demo.generate import default_root

    params = {"n_subjects": PAPER_SUBJECTS, "clips_per_subject": DEMO_CLIPS_PER_SUBJECT}
    if not is_current(default_root(0, **params), seed=0, **params):
        return None
    out = paper_features_dir(paper_selection())
    return out if (out / "manifest.json").is_file() else None


# ---- configuration ------------------------------------------------------------------------------------------


def space_module(args):
    from search_spaces import get_space

    return get_space(args.space)


def paper_params(args) -> dict:
    """The measured space's fixed recipe (``--space``, default the paper's), with ``--epochs`` / ``--quick``."""
    params = space_module(args).params()
    params.setdefault("pretrain_epochs", 8)
    if args.epochs:
        params["epochs"] = params["pretrain_epochs"] = args.epochs
    if args.quick:
        params["input_size"] = QUICK["size"]
    return params


def epoch_items(data, held_out: str, flip_expand: bool) -> int:
    """Training items per epoch of a fold: the training clips (+ mirrored positive / surprise), class-balanced."""
    labels = data.labels[data.meta["subject"].to_numpy() != held_out]
    n = len(labels) + (int(np.isin(labels, (1, 2)).sum()) if flip_expand else 0)
    classes = len(np.unique(labels))
    return (n // classes) * classes


# ---- CPU: K folds measured, the rest extrapolated -----------------------------------------------------------


@dataclass
class FoldTiming:
    subject: str
    test_clips: int
    items: int  # training items per epoch
    seconds: float
    pre_epoch: float  # s per pretraining epoch (median after the first)
    train_epoch: float  # s per fine-tuning epoch (median after the first)
    setup: float  # everything else: input statistics, model builds, BN recalibration, prediction

    def at(self, pretrain_epochs: int, epochs: int) -> float:
        return self.setup + pretrain_epochs * self.pre_epoch + epochs * self.train_epoch


def time_fold(config, data, subject: str, seed: int) -> FoldTiming:
    from mer_ray.training.trainer import train_fold

    stamps: list[tuple[float, str]] = []
    start = time.perf_counter()
    train_fold(config, data.with_masked_labels(subject), subject, seed, device="cpu",
               log=lambda message: stamps.append((time.perf_counter(), message)))
    seconds = time.perf_counter() - start
    durations: dict[str, list[float]] = {"pretrain": [], "train": []}
    previous = start
    for stamp, message in stamps:
        match = re.match(r"(pretrain|train) epoch (\d+)/", message)
        if match and int(match.group(2)) > 1:  # an epoch's first one also holds that phase's set-up
            durations[match.group(1)].append(stamp - previous)
        previous = stamp
    pre = float(np.median(durations["pretrain"])) if durations["pretrain"] else math.nan
    train = float(np.median(durations["train"])) if durations["train"] else math.nan
    if (config.pretrain and math.isnan(pre)) or math.isnan(train):
        raise SystemExit("per-epoch times need at least 2 epochs per phase: use --epochs 2 or more")
    pre = pre if config.pretrain else 0.0
    setup = seconds - (config.pretrain_epochs if config.pretrain else 0) * pre - config.epochs * train
    test = int((data.meta["subject"] == subject).sum())
    return FoldTiming(subject, test, epoch_items(data, subject, config.flip_expand), seconds, pre, train, setup)


def run_cpu(data, args) -> None:
    import torch

    from mer_ray.evaluation.folds import fold_seed
    from mer_ray.training.config import TrainConfig

    space = space_module(args)
    params = paper_params(args)
    config = TrainConfig.from_dict(params)
    torch.set_num_threads(args.threads)
    subjects = data.subjects
    k = min(args.folds, len(subjects))
    chosen = [subjects[i * len(subjects) // k] for i in range(k)]
    print(f"config: {params}")
    print(f"timing {k} fold(s) on the CPU with {args.threads} torch thread(s): {', '.join(chosen)}", flush=True)
    timings = []
    for subject in chosen:
        timing = time_fold(config, data, subject, fold_seed(args.seed, args.space, subject))
        print(f"  {subject}: {timing.seconds:.1f} s", flush=True)
        timings.append(timing)

    measured_pre = config.pretrain_epochs if config.pretrain else 0  # epochs of the pretraining phase run
    target_pre = space.fixed.get("pretrain_epochs", 8) if space.fixed.get("pretrain", True) else 0
    target_epochs = space.fixed["epochs"]
    if args.quick:
        target_pre, target_epochs = measured_pre, config.epochs
    rows = [[t.subject, t.test_clips, t.items, f"{t.seconds:.1f}", f"{t.pre_epoch:.2f}", f"{t.train_epoch:.2f}",
             f"{t.setup:.1f}", f"{t.items / t.pre_epoch:.1f}" if t.pre_epoch else "-", f"{t.items / t.train_epoch:.1f}",
             fmt_s(t.at(target_pre, target_epochs))] for t in timings]
    print_table(["held-out subject", "test clips", "items / epoch", f"fold s ({measured_pre}+"
                 f"{config.epochs} ep.)", "s / pretrain epoch", "s / fine-tune epoch", "set-up + predict s",
                 "pretrain samples/s", "fine-tune samples/s", f"fold at {target_pre}+{target_epochs} epochs"],
                rows, f"measured: {k} fold(s), {len(data)} clips, {config.input_size} px, batch {config.batch_size}, "
                f"{args.threads} thread(s)")
    fold = float(np.mean([t.at(target_pre, target_epochs) for t in timings]))
    folds = len(subjects)
    parallel = max(1, args.cpus // args.threads)
    total = math.ceil(folds / parallel) * fold
    measured_epochs = f"{measured_pre}+{config.epochs}"
    scaled = "" if (measured_pre, config.epochs) == (target_pre, target_epochs) else (
        f", per-epoch times scaled from {measured_epochs} to {target_pre}+{target_epochs} epochs")
    print(f"- MEASURED on {k} fold(s){scaled}: {fmt_s(fold)} per fold on {args.threads} thread(s)")
    print(f"- EXTRAPOLATED full LOSO on this CPU: ceil({folds} folds / {parallel} trials at a time) x {fmt_s(fold)} "
          f"= {fmt_s(total)} (assumes parallel trials run as fast as one alone: an optimistic bound)")
    print(f"- the GPU goal (all {PAPER_SUBJECTS} folds under {GOAL_GPU_SECONDS // 60} min on one H100) is checked "
          f"only by a measured run: --device cuda --trials-per-gpu 4")


# ---- measured: every fold through Ray Tune (GPU, or CPU with --tune) ---------------------------------------


def run_tune_measured(data, args) -> None:
    import ray
    import torch

    from mer_ray.evaluation.metrics import score_predictions
    from mer_ray.search.scheduler import LosoSearch
    from mer_ray.search.tune import run_tune

    space = space_module(args)
    gpus = 0
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(
                f"--device cuda: no CUDA device is usable here (torch {torch.__version__}, built for CUDA "
                f"{torch.version.cuda or 'none: a CPU-only build'}). Run this on a machine with an NVIDIA GPU and a "
                "CUDA build of torch, or drop --device cuda to measure a few folds on the CPU and extrapolate."
            )
        gpus = torch.cuda.device_count()
        if args.trials_per_gpu < 1:
            raise SystemExit(f"--trials-per-gpu must be >= 1; got {args.trials_per_gpu}")
    slots = gpus * args.trials_per_gpu if gpus else max(1, args.cpus // args.threads)
    cpus_per_trial = max(1, args.cpus // slots) if gpus else args.threads
    gpus_per_trial = 1.0 / args.trials_per_gpu if gpus else 0.0
    params = paper_params(args)
    overrides = {k: v for k, v in params.items() if space.fixed.get(k) != v}
    device_text = (f"{gpus} x {torch.cuda.get_device_name(0)}" if gpus else f"CPU ({args.cpus} CPUs)")
    print(f"config: {params}")
    print(f"measured run: all {len(data.subjects)} folds through Ray Tune on {device_text}: {slots} trials at a time "
          f"({cpus_per_trial} CPU{f', {gpus_per_trial:g} GPU' if gpus else ''} each)", flush=True)
    init = init_ray(num_cpus=args.cpus, num_gpus=gpus, progress_bars=False, fresh=True)
    try:
        with tempfile.TemporaryDirectory(prefix="paper-scale-") as tmp:
            search = LosoSearch(Path(tmp), space, data, n_trials=1, seed=args.seed, overrides=overrides,
                                max_open_configs=1, log=print if args.verbose else (lambda message: None))
            start = time.perf_counter()
            nodes = run_tune(search, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial)
            wall = time.perf_counter() - start
            predictions = search.all_predictions()
    finally:
        ray.shutdown()
    if predictions.empty or predictions["subject"].nunique() != len(data.subjects):
        done = 0 if predictions.empty else predictions["subject"].nunique()
        raise SystemExit(f"only {done} of {len(data.subjects)} folds finished; see the Tune errors above")
    fold_s = predictions.groupby("subject")["seconds"].first()
    items = sum(epoch_items(data, s, params.get("flip_expand", True)) for s in data.subjects)
    items *= (params["pretrain_epochs"] if params.get("pretrain", True) else 0) + params["epochs"]
    scores = score_predictions(predictions)
    print_table(["folds", "trials at a time", "wall (measured)", "+ ray.init", "median fold s", "max fold s",
                 "samples/s per trial", "samples/s total", "pooled UAR"],
                [[len(fold_s), slots, fmt_s(wall), f"{init:.1f} s", f"{fold_s.median():.1f}", f"{fold_s.max():.1f}",
                  f"{items / fold_s.sum():.1f}", f"{items / wall:.1f}", f"{scores['uar']:.3f}"]],
                f"MEASURED full LOSO ({len(data)} clips, {params['input_size']} px) on {device_text}")
    print(f"- {len({n['pid'] for n in nodes})} trial processes; samples = training items x epochs (forward + "
          f"backward); UAR is meaningless on random arrays")
    if gpus:
        verdict = "met" if wall < GOAL_GPU_SECONDS and gpus == 1 else ("MISSED" if gpus == 1 else "n/a (not 1 GPU)")
        print(f"- goal: all {PAPER_SUBJECTS} folds under {GOAL_GPU_SECONDS // 60} min on one H100: {fmt_s(wall)} "
              f"-> {verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny synthetic set ({QUICK['subjects']} subjects, {QUICK['size']} px), "
                             f"{QUICK['epochs']}+{QUICK['epochs']} epochs, 1 fold: a smoke run")
    parser.add_argument("--synthetic", action="store_true", help="random arrays shaped like the composite")
    parser.add_argument("--build-demo", action="store_true", help="build the paper-scale demo features if missing")
    parser.add_argument("--folds", type=int, default=None, help="folds measured on the CPU (default 2)")
    parser.add_argument("--epochs", type=int, default=None, help="pretraining and fine-tuning epochs (default 20+20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per fold / trial (default 1)")
    parser.add_argument("--cpus", type=int, default=0, help="CPUs to plan / use (default: all)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--trials-per-gpu", type=int, default=4, help="--device cuda: trials sharing one GPU")
    parser.add_argument("--tune", action="store_true", help="run every fold through Ray Tune on the CPU, measured")
    parser.add_argument("--space", default="paper", help="the search space whose fixed recipe is measured")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print the search's progress lines")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = args.epochs or QUICK["epochs"]
        args.folds = args.folds or QUICK["folds"]
    args.folds = args.folds or 2
    args.cpus = args.cpus or cpu_count()
    if args.folds < 1 or args.threads < 1 or (args.epochs is not None and args.epochs < 1):
        parser.error("--folds, --threads and --epochs must be >= 1")
    if args.device == "cuda":  # fail before spending minutes on data
        import torch

        if not torch.cuda.is_available():
            run_tune_measured(None, args)  # raises the explanatory SystemExit

    start = time.perf_counter()
    data, what = load_data(args)
    print(f"{what}: {len(data)} clips, {len(data.subjects)} subjects, arrays {array_bytes(data) / 2**20:.0f} MiB "
          f"(ready in {fmt_s(time.perf_counter() - start)}); {machine_line()}", flush=True)
    if args.device == "cuda" or args.tune:
        run_tune_measured(data, args)
    else:
        run_cpu(data, args)
    print(f"\nload average at end: {machine_line()}")


if __name__ == "__main__":
    main()
