"""Chaos run of a composite-shaped LOSO: random trial kills, a worker-node kill, a driver kill and ``--resume``.

    python benchmarks/chaos.py                        # composite shape: 68 subjects, 442 clips, 3 datasets
    python benchmarks/chaos.py --quick                # CI scale: 9 subjects, 45 clips (the slow-tier test)
    python benchmarks/chaos.py --subjects 24 --trial-kills 5 --seed 3

Synthetic features of the composite's shape (random arrays: the point is the fold machinery, not a score) are
written as a features folder. A real local Ray cluster of two nodes (``ray.cluster_utils.Cluster``: a head and a
worker, one CPU each, real raylets) runs ``python -m mer_ray.loso --search baseline --set epochs=2 --address ...``
(the linear probe's folds, then a tiny network's: 2 x subjects folds) twice:

1. undisturbed: the reference;
2. disturbed: at random fold counts, SIGKILL of ``--trial-kills`` trial processes that are running a fold; then
   the worker node is killed mid-fold (its raylet and workers, ``remove_node(allow_graceful=False)``) and a
   fresh node joins; then the driver is SIGKILLed and the run is continued with ``--resume``.

It prints the faults injected / survived per kind, folds expected / present / duplicated, whether every
prediction (scores bit for bit) and the pooled UAR / UF1 equal the reference's, and the wall times; the exit
status is 1 when anything differs or a planned fault could not be injected. ``--json PATH`` writes the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _chaos_procs import cli_env, kill_session, running_trial_pids, start  # noqa: E402
from _common import Shape, fmt_s, machine_line, synthetic_features  # noqa: E402

SEARCH = ["--search", "baseline"]
NETWORK = ["--set", "epochs=2"]  # the small-flow ShuffleNetV2 (16-px input), 2 epochs: a fold of a second or two
COLUMNS = ["part", "config_id", "sample", "y_true", "y_pred", "scores"]


def composite_features(subjects: int, clips: int, datasets: int, size: int, seed: int):
    """Random arrays of the composite's shape: ``subjects`` spread over ``datasets`` in contiguous blocks."""
    data = synthetic_features(Shape(subjects=subjects, clips=clips, size=size), seed=seed)
    meta = data.meta.copy()
    number = meta["subject"].str.rsplit("s", n=1).str[-1].astype(int)
    names = [f"synthetic{n * datasets // subjects + 1}" for n in number]
    meta["dataset"] = names
    meta["subject"] = [f"{d}/s{n:02d}" for d, n in zip(names, number, strict=True)]
    meta["sample_id"] = [f"{s}/{c}" for s, c in zip(meta["subject"], meta["clip"], strict=True)]
    return dataclasses.replace(data, meta=meta, landmarks=None, sequence=None)


# ---- the run folder ----------------------------------------------------------------------------------------------

def fold_files(run: Path) -> list[Path]:
    """Finished folds: the network's (``RUN/folds``) and the probe's (``RUN/reference/probe/folds``)."""
    return sorted(run.rglob("folds/*/*.parquet"))


def predictions(run: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p).assign(part="probe" if "reference" in p.relative_to(run).parts else "model")
              for p in fold_files(run)]
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["part", "config_id", "sample"]).reset_index(drop=True)


def pooled(frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
    from mer_ray.evaluation.metrics import score_predictions

    return {part: (scores["uar"], scores["uf1"]) for part, rows in frame.groupby("part")
            for scores in [score_predictions(rows)]}


def only_run(parent: Path, timeout: float = 0.0, proc=None) -> Path | None:
    """The one run folder under ``parent`` (waiting up to ``timeout`` s for it while ``proc`` runs)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [p for p in parent.glob("*") if p.is_dir()] if parent.is_dir() else []
        if found or time.monotonic() >= deadline or (proc is not None and proc.poll() is not None):
            return found[0] if found else None
        time.sleep(0.05)


# ---- the cluster and the faults ----------------------------------------------------------------------------------

class Chaos:
    """The two-node cluster, the CLI runs on it and the faults injected into the disturbed one."""

    def __init__(self, args, work: Path, features: Path):
        from ray.cluster_utils import Cluster

        self.args, self.work, self.features = args, work, features
        self.rng = random.Random(args.seed)
        self.env = cli_env(work / "cache")
        os.environ["PYTHONPATH"] = self.env["PYTHONPATH"]  # the nodes' workers import this repository
        store = 256 * 2**20
        self.cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": store})
        self.worker = self.cluster.add_node(num_cpus=1, object_store_memory=store)
        self.cluster.wait_for_nodes()
        self.faults = {kind: {"planned": n, "injected": 0} for kind, n in
                       (("trial kill", args.trial_kills), ("worker-node kill", 1), ("driver kill", 1))}
        self.total = 2 * args.subjects  # probe folds + network folds
        self.rerun_folds: int | None = None  # folds finished before the driver kill that --resume ran again

    def close(self) -> None:
        self.cluster.shutdown()

    @property
    def nodes(self) -> list:
        return [self.cluster.head_node, *self.cluster.worker_nodes]

    def loso(self, out: Path, *extra: str) -> list[str]:
        return ["-m", "mer_ray.loso", *SEARCH, "--address", self.cluster.address, "--seed", str(self.args.seed),
                "--max-failures", str(self.args.trial_kills + 3), *extra, "--out", str(out)]

    def run_to_end(self, args: list[str], log: Path, stage: str, run_parent: Path):
        """Run a CLI to completion, printing its progress; its exit status."""
        proc = start(args, self.work, self.env, log)
        try:
            self.watch(proc, stage, run_parent, until=lambda folds: False)
        finally:
            kill_session(proc)
        return proc.returncode

    def watch(self, proc, stage: str, run_parent: Path, until, timeout: float = 3600.0) -> int:
        """Print ``stage`` and the folds done every few seconds until ``proc`` exits or ``until(folds)``."""
        start_time, last = time.monotonic(), -1.0
        while proc.poll() is None and time.monotonic() - start_time < timeout:
            run = only_run(run_parent)
            folds = len(fold_files(run)) if run else 0
            if until(folds):
                return folds
            if time.monotonic() - last >= 10:
                print(f"  [{stage}] folds {folds}/{self.total} | {fmt_s(time.monotonic() - start_time)}", flush=True)
                last = time.monotonic()
            time.sleep(0.02)
        if proc.poll() is None:
            raise TimeoutError(f"{stage}: still running after {timeout:.0f} s")
        return -1

    def kill_a_trial(self, on_nodes: list, timeout: float = 120.0) -> int | None:
        """SIGKILL a random trial process of ``on_nodes`` that is running a fold now; its pid (None: none ran)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = running_trial_pids(on_nodes)
            if running:
                pid = self.rng.choice(running)
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    continue
                return pid
            time.sleep(0.01)
        return None

    def disturbed(self, out: Path) -> tuple[int, Path | None]:
        """The disturbed run: trial kills, a worker-node kill, a driver kill, then ``--resume``; the resumed CLI's
        exit status and the run folder."""
        total = self.total
        # fold counts the trial kills wait for: the probe's folds come first, the network's second, so half the kills
        # fall in each half of the run (before 60 % of it: folds are left for the node and driver kills)
        early = range(max(1, total // 20), max(2, total // 2))
        late = range(max(2, total // 2), max(3, total * 6 // 10) + 1)
        n_late = self.args.trial_kills // 2
        kills = sorted(self.rng.sample(early, min(self.args.trial_kills - n_late, len(early)))
                       + self.rng.sample(late, min(n_late, len(late))))
        node_at, driver_at = max(kills, default=0) + 1, max(max(kills, default=0) + 2, total * 8 // 10)
        log = self.work / "chaos.log"
        proc = start(self.loso(out, "--features", str(self.features), *NETWORK), self.work, self.env, log)
        try:
            for i, at in enumerate(kills, 1):
                stage = f"disturbed: trial kill {i}/{len(kills)} at {at} folds"
                if self.watch(proc, stage, out, until=lambda folds, at=at: folds >= at) < 0:
                    break
                time.sleep(self.rng.uniform(0, 0.5))
                pid = self.kill_a_trial(self.nodes)
                if pid is not None:
                    self.faults["trial kill"]["injected"] += 1
                    print(f"  killed trial process {pid} (SIGKILL) at {len(fold_files(only_run(out)))} folds",
                          flush=True)
            if self.watch(proc, f"disturbed: worker-node kill at {node_at} folds", out,
                          until=lambda folds: folds >= node_at) >= 0:
                give_up = node_at + max(1, (driver_at - node_at) // 2)  # leave folds for the driver kill
                mid_fold = self.wait_for_trial_on_worker(proc, out, give_up)
                self.cluster.remove_node(self.worker, allow_graceful=False)  # raylet, workers, agents: SIGKILL
                self.faults["worker-node kill"]["injected"] += 1
                print(f"  killed worker node {self.worker.node_id[:8]} ({'mid-fold' if mid_fold else 'idle'}) at "
                      f"{len(fold_files(only_run(out)))} folds; a fresh node joins", flush=True)
                self.worker = self.cluster.add_node(num_cpus=1, object_store_memory=256 * 2**20)
            folds = self.watch(proc, f"disturbed: driver kill at {driver_at} folds", out,
                               until=lambda folds: folds >= driver_at)
            if folds >= 0:
                kill_session(proc)  # SIGKILL the driver: Ray ends its job's trial processes
                self.faults["driver kill"]["injected"] += 1
                print(f"  killed the driver (SIGKILL) at {folds} folds", flush=True)
        finally:
            kill_session(proc)
        run = only_run(out)
        if run is None or self.faults["driver kill"]["injected"] == 0:
            print(f"  the disturbed run ended before the driver kill (exit {proc.returncode})", flush=True)
            return proc.returncode, run
        kept = {p: p.stat().st_mtime_ns for p in fold_files(run)}
        status = self.run_to_end(["-m", "mer_ray.loso", *SEARCH, "--resume", str(run), "--address",
                                  self.cluster.address, "--max-failures", str(self.args.trial_kills + 3)],
                                 self.work / "resume.log", "disturbed: --resume", out)
        self.rerun_folds = sum(1 for p, t in kept.items() if not p.exists() or p.stat().st_mtime_ns != t)
        return status, run

    def wait_for_trial_on_worker(self, proc, out: Path, give_up: int) -> bool:
        """Wait until the worker node runs a fold, so that its kill cuts one; False once ``give_up`` folds are
        done (or the run ended) without one there (a loaded machine can keep a cold node idle for long)."""
        while proc.poll() is None and len(fold_files(only_run(out))) < give_up:
            if running_trial_pids([self.worker]):
                return True
            time.sleep(0.01)
        return False


# ---- main ----------------------------------------------------------------------------------------------------------

def compare(reference: Path, run: Path | None, expected: int) -> dict:
    """Folds expected / present / duplicated, identical predictions and pooled scores."""
    if run is None or not fold_files(run):
        return {"folds_expected": expected, "folds_present": 0, "folds_duplicated": 0, "predictions_identical": False,
                "pooled_identical": False, "pooled": {}}
    want, got = predictions(reference), predictions(run)
    names = {p.relative_to(run) for p in fold_files(run)}
    duplicated = int(got.duplicated(["part", "config_id", "sample"]).sum())
    try:
        pd.testing.assert_frame_equal(got[COLUMNS], want[COLUMNS])
        identical = True
    except AssertionError:
        identical = False
    mine, theirs = pooled(got), pooled(want)
    board = run / "leaderboard.csv"
    return {"folds_expected": expected, "folds_present": len(names), "folds_duplicated": duplicated,
            "predictions_identical": identical, "pooled_identical": mine == theirs and board.is_file(),
            "pooled": {part: {"uar": uar, "uf1": uf1, "reference_uar": theirs.get(part, (None,))[0],
                              "reference_uf1": theirs.get(part, (None, None))[1]} for part, (uar, uf1) in mine.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=68)
    parser.add_argument("--clips-per-subject", type=float, default=6.5, help="442 clips over 68 subjects")
    parser.add_argument("--datasets", type=int, default=3)
    parser.add_argument("--size", type=int, default=32, help="face size of the synthetic features")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trial-kills", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="CI scale: 9 subjects x 5 clips, 2 trial kills")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.subjects, args.clips_per_subject, args.trial_kills = 9, 5, 2
    clips = round(args.subjects * args.clips_per_subject)
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        work = (args.work or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        return chaos_run(args, clips, work)


def chaos_run(args, clips: int, work: Path) -> int:
    from preprocessing.features.shard_writer import write_feature_set

    print(f"chaos run: {args.subjects} subjects, {clips} clips, {args.datasets} datasets; seed {args.seed}; "
          f"{machine_line()}", flush=True)
    features = write_feature_set(composite_features(args.subjects, clips, args.datasets, args.size, args.seed),
                                 work / "features")
    chaos = Chaos(args, work, features)
    try:
        print("undisturbed reference ...", flush=True)
        start_time = time.monotonic()
        status = chaos.run_to_end(chaos.loso(work / "reference", "--features", str(features), *NETWORK),
                                  work / "reference.log", "reference", work / "reference")
        reference_seconds = time.monotonic() - start_time
        reference = only_run(work / "reference")
        if status != 0 or reference is None:
            print(f"the reference run failed (exit {status}); see {work / 'reference.log'}")
            return 1
        print(f"  reference: {len(fold_files(reference))} folds in {fmt_s(reference_seconds)}", flush=True)
        print("disturbed run ...", flush=True)
        start_time = time.monotonic()
        status, run = chaos.disturbed(work / "chaos")
        chaos_seconds = time.monotonic() - start_time
    finally:
        chaos.close()
    result = compare(reference, run, chaos.total)
    ok = (status == 0 and result["predictions_identical"] and result["pooled_identical"]
          and result["folds_present"] == result["folds_expected"] and result["folds_duplicated"] == 0)
    for fault in chaos.faults.values():
        fault["survived"] = fault["injected"] if ok else 0
    injected_all = all(f["injected"] == f["planned"] for f in chaos.faults.values())
    errors = len(list(run.rglob("error.txt"))) if run else 0
    result.update(subjects=args.subjects, clips=clips, datasets=args.datasets, seed=args.seed, faults=chaos.faults,
                  resume_exit=status, tune_trial_errors=errors, folds_rerun_after_resume=chaos.rerun_folds,
                  reference_seconds=reference_seconds, disturbed_seconds=chaos_seconds, ok=ok and injected_all)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


def report(r: dict) -> None:
    print(f"\nchaos run of a composite-shaped LOSO: {r['subjects']} subjects, {r['clips']} clips, {r['datasets']} "
          f"datasets, seed {r['seed']}\n")
    print("| fault | planned | injected | survived |\n|---|---|---|---|")
    for kind, f in r["faults"].items():
        print(f"| {kind} | {f['planned']} | {f['injected']} | {f['survived']} |")
    print(f"\nTune recorded {r['tune_trial_errors']} failed trial attempts (retried); the resumed run exited "
          f"{r['resume_exit']}; finished folds re-run by --resume: {r['folds_rerun_after_resume']}")
    print(f"folds: expected {r['folds_expected']}, present {r['folds_present']}, duplicated {r['folds_duplicated']}")
    print(f"predictions identical to the undisturbed run (scores bit for bit): "
          f"{'yes' if r['predictions_identical'] else 'NO'}")
    for part, s in r["pooled"].items():
        print(f"pooled {part}: UAR {s['uar']:.4f} UF1 {s['uf1']:.4f} (undisturbed: UAR {s['reference_uar']:.4f} "
              f"UF1 {s['reference_uf1']:.4f})")
    print(f"pooled UAR / UF1 identical: {'yes' if r['pooled_identical'] else 'NO'}")
    print(f"wall time: undisturbed {fmt_s(r['reference_seconds'])}, disturbed (with --resume) "
          f"{fmt_s(r['disturbed_seconds'])}")
    print("OK: every fault survived" if r["ok"] else "FAILED: see above")


if __name__ == "__main__":
    sys.exit(main())
