"""All LOSO folds of a configuration on one GPU, N processes sharing it, WITHOUT Ray: wall time, utilisation, memory.

    python benchmarks/gpu_folds.py --config paper --trials-per-gpu 4          # 68 folds of the paper's configuration
    python benchmarks/gpu_folds.py --config ensemble --trials-per-gpu 4
    python benchmarks/gpu_folds.py --config paper --precision bf16
    python benchmarks/gpu_folds.py --device cpu --quick                       # a smoke run on the CPU

For the lent GPU machine, which has torch with CUDA, numpy, pandas, pyarrow and scikit-learn but no Ray, Optuna
or dlib: run from the repository root with ``PYTHONPATH=.``. The data are an in-memory synthetic feature set
shaped like the composite (68 subjects, 442 clips, 224-px faces, ``_common.synthetic_features``, the same in every
process from the same seed): training time does not depend on pixel values, and UAR on random arrays is
meaningless. Each worker process takes held-out subjects from a queue and runs ``mer_ray.training.trainer.train_fold``
on
its GPU share; the parent samples ``nvidia-smi`` (utilisation, memory used) every 0.5 s while folds run. Printed
and written to ``--out`` (JSON): wall time of all folds, fold times, mean / median GPU utilisation, peak memory
per trial (``torch.cuda.max_memory_allocated``) and for the whole GPU, and the goal verdicts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Shape, print_table, synthetic_features  # noqa: E402

GOALS = {"paper": 600.0, "ensemble": 180.0}  # seconds for all 68 folds on one H200 (ensemble: the recommended
# recipe's networks, the 5-network ensemble it was before issue 24)
QUICK = {"epochs": 1, "pretrain_epochs": 1}


def config_params(name: str, precision: str, quick: bool) -> dict:
    from search_spaces import ensemble, paper

    params = dict({"paper": paper.FIXED, "ensemble": ensemble.FIXED}[name])
    params["precision"] = precision
    if quick:
        params.update({k: v for k, v in QUICK.items() if k in params or k == "epochs"})
        params["input_size"] = min(params["input_size"], 64)
    return params


def _worker(rank: int, params: dict, shape: tuple, device: str, seed: int, tasks, results) -> None:
    import torch

    from mer_ray.evaluation.folds import fold_seed
    from mer_ray.training.config import TrainConfig
    from mer_ray.training.trainer import train_fold

    torch.set_num_threads(2)
    data = synthetic_features(Shape(*shape), seed=seed)
    config = TrainConfig.from_dict(params)
    while True:
        try:
            subject = tasks.get_nowait()
        except queue.Empty:
            return
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = train_fold(config, data.with_masked_labels(subject), subject, fold_seed(seed, "gpu", subject),
                            device=device)
        peak = torch.cuda.max_memory_allocated() if device == "cuda" else 0
        results.put({"rank": rank, "subject": subject, "seconds": time.perf_counter() - start,
                     "peak_bytes": int(peak), "n": len(result.sample_ids)})


class GpuSampler:
    """``nvidia-smi`` utilisation (%) and memory used (MiB) every ``interval`` seconds, in a thread."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.samples, self._stop = interval, [], threading.Event()
        self.available = shutil.which("nvidia-smi") is not None

    def __enter__(self) -> GpuSampler:
        if self.available:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.available:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True).stdout
            if out.strip():
                util, used = out.strip().splitlines()[0].split(",")
                self.samples.append((float(util), float(used)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/gpu_folds.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(GOALS), default="paper")
    p.add_argument("--trials-per-gpu", type=int, default=4, help="processes sharing the GPU (default 4)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--folds", type=int, default=0, help="folds to run (default: all)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--quick", action="store_true", help="a tiny synthetic set and 1 epoch: a smoke run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: no CUDA device is usable here (use --device cpu for a smoke run)",
              file=sys.stderr)
        return 2
    shape = (6, 24, 64) if args.quick else (68, 442, 224)
    params = config_params(args.config, args.precision, args.quick)
    subjects = synthetic_features(Shape(*shape), seed=args.seed).subjects
    subjects = subjects[: args.folds] if args.folds else subjects
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    print(f"{args.config} ({args.precision}) on {name}: {len(subjects)} folds, {args.trials_per_gpu} processes; "
          f"data {shape[1]} clips x {shape[2]} px (synthetic)", flush=True)
    ctx = mp.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for subject in subjects:
        tasks.put(subject)
    workers = [ctx.Process(target=_worker, args=(r, params, shape, args.device, args.seed, tasks, results))
               for r in range(args.trials_per_gpu)]
    done: list[dict] = []
    start = time.perf_counter()
    with GpuSampler() as gpu:
        for w in workers:
            w.start()
        while len(done) < len(subjects):
            try:
                done.append(results.get(timeout=5))
                print(f"  fold {len(done)}/{len(subjects)} {done[-1]['subject']}: {done[-1]['seconds']:.1f} s "
                      f"(peak {done[-1]['peak_bytes'] / 2**20:.0f} MiB)", flush=True)
            except queue.Empty:
                if not any(w.is_alive() for w in workers):
                    break
        wall = time.perf_counter() - start
    for w in workers:
        w.join()
    if len(done) < len(subjects):
        print(f"error: only {len(done)} of {len(subjects)} folds finished (a worker died; see above)", file=sys.stderr)
        return 1
    seconds = np.array([d["seconds"] for d in done])
    util = np.array([u for u, _ in gpu.samples]) if gpu.samples else np.array([np.nan])
    used = max((m for _, m in gpu.samples), default=float("nan"))
    peak = max(d["peak_bytes"] for d in done) / 2**20
    goal = GOALS[args.config] if len(subjects) == 68 and args.device == "cuda" else None
    verdict = "-" if goal is None else f"<= {goal / 60:.0f} min: {'met' if wall <= goal else 'MISSED'}"
    print_table(["config", "folds", "processes", "wall s", "median fold s", "GPU util mean / median %",
                 "peak MiB per trial", "GPU memory used MiB", "goal"],
                [[f"{args.config} ({args.precision})", len(done), args.trials_per_gpu, f"{wall:.1f}",
                  f"{np.median(seconds):.1f}", f"{np.nanmean(util):.0f} / {np.nanmedian(util):.0f}", f"{peak:.0f}",
                  f"{used:.0f}", verdict]],
                title=f"MEASURED: {len(done)} LOSO folds on {name}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {"config": args.config, "precision": args.precision, "device": name, "folds": len(done),
                  "processes": args.trials_per_gpu, "wall_s": wall, "fold_s": seconds.tolist(),
                  "gpu_util": util.tolist(), "peak_mib_per_trial": peak, "gpu_memory_used_mib": used}
        (args.out / f"gpu_folds_{args.config}_{args.precision}.json").write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
