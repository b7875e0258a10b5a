"""Per-sample recognition latency of every registered model (the paper's Table 4), measured side by side.

Batch 1, 224x224, 3 channels, inference mode, on this machine's CPU, with one thread and with all threads.
Variants per model: eager (NCHW), eager channels-last, and ``torch.compile`` (inductor with freezing: BN folded
into convs, weights prepacked), compiled again for each thread count. All variants of all models are timed in
interleaved rounds (shuffled order per round), so load from other processes hits every model alike; each
number is the median over the rounds after warm-up. Ratios compare each model's best variant with
MobileNetV2's and ResNet50's best variant (and eager with eager). "best min" is the fastest single run of the
best variant, the number least inflated when other processes share the CPU.

    python benchmarks/model_latency.py            # full: 50 runs, 10 warm-up, compile on
    python benchmarks/model_latency.py --quick    # 10 runs, 3 warm-up, no compile
    python benchmarks/model_latency.py --runs 100 --models shufflenet_v2_vit mobilenet_v2 resnet50
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mer_ray.models import create_model, list_models

# The paper's Table 4 (ms per sample, Intel Core i9-9980HK, Keras 2.2.4).
PAPER_MS = {"shufflenet_v2_cbam": 28.5, "shufflenet_v2_vit": 37.9, "mobilenet_v2": 24.0, "resnet50": 105.9,
            "deit_tiny": 168.0}
VARIANTS = ("eager", "channels_last", "compile")
GOAL = {"mobilenet_v2": 1.2, "resnet50": 0.25}  # shufflenet_v2_vit at most this ratio to each
# Optional extra rows: documented non-default options, timed alongside (not part of the paper's table).
EXTRA = {"shufflenet_v2_vit[vit_conv=standard]": ("shufflenet_v2_vit", {"vit_conv": "standard"})}


@dataclass
class Row:
    """Timings of one model at one thread count."""

    label: str
    params: int
    ms: dict[str, float] = field(default_factory=dict)  # variant -> median ms
    min_ms: dict[str, float] = field(default_factory=dict)  # variant -> fastest run (least disturbed by load)
    notes: list[str] = field(default_factory=list)

    def best(self) -> tuple[str, float]:
        variant = min(self.ms, key=self.ms.get)
        return variant, self.ms[variant]


def build_variants(name: str, options: dict, use_compile: bool, notes: list[str]) -> dict[str, Callable]:
    """Callables ``() -> logits`` for each variant of one model; compile warm-up happens here."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)
    model = create_model(name, **options).eval()
    out: dict[str, Callable] = {"eager": lambda m=model: m(x)}
    model_cl = create_model(name, **options).eval().to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    out["channels_last"] = lambda m=model_cl: m(x_cl)
    if use_compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(create_model(name, **options).eval())
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                compiled(x)
                compiled(x)
        except Exception as exc:  # any backend failure (no compiler, unsupported op): report, keep eager numbers
            notes.append(f"compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        else:
            notes.append(f"compile warm-up {time.perf_counter() - start:.0f} s")
            out["compile"] = lambda m=compiled: m(x)
    return out


def measure(callables: dict[tuple[str, str], Callable], runs: int, warmup: int,
            seed: int) -> dict[tuple[str, str], list[float]]:
    """Times (ms) per key over ``runs`` interleaved rounds (shuffled order each round) after ``warmup`` rounds."""
    rng = random.Random(seed)
    keys = list(callables)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    with torch.inference_mode():
        for round_index in range(warmup + runs):
            rng.shuffle(keys)
            for key in keys:
                start = time.perf_counter()
                callables[key]()
                elapsed = (time.perf_counter() - start) * 1000
                if round_index >= warmup:
                    times[key].append(elapsed)
    return times


def run(threads: int, labels: dict[str, tuple[str, dict]], args) -> dict[str, Row]:
    """Build and time every model's variants at one thread count."""
    torch.set_num_threads(threads)
    if not args.no_compile:
        torch._dynamo.reset()  # inductor bakes the thread count into its kernels: compile anew
    rows: dict[str, Row] = {}
    callables: dict[tuple[str, str], Callable] = {}
    for label, (name, options) in labels.items():
        params = sum(p.numel() for p in create_model(name, **options).parameters())
        rows[label] = Row(label, params)
        print(f"  [{threads} thread(s)] building {label} ...", flush=True)
        for variant, fn in build_variants(name, options, not args.no_compile, rows[label].notes).items():
            callables[(label, variant)] = fn
    print(f"  [{threads} thread(s)] timing {len(callables)} callables x {args.runs} runs ...", flush=True)
    for (label, variant), times in measure(callables, args.runs, args.warmup, args.seed).items():
        rows[label].ms[variant] = statistics.median(times)
        rows[label].min_ms[variant] = min(times)
    return rows


def ratio(rows: dict[str, Row], label: str, ref: str, variant: str | None = None) -> str:
    if ref not in rows:
        return "-"
    if variant is None:
        return f"{rows[label].best()[1] / rows[ref].best()[1]:.2f}"
    return f"{rows[label].ms[variant] / rows[ref].ms[variant]:.2f}"


def print_table(rows: dict[str, Row], threads: int) -> None:
    print(f"\n### {threads} thread(s): median ms per sample (batch 1, 224x224)\n")
    variants = [v for v in VARIANTS if any(v in r.ms for r in rows.values())]
    head = ["model", "params (3 cl.)", *variants, "best", "best min", "x MobileNetV2", "x ResNet50", "eager x MNv2",
            "eager x R50", "paper ms", "paper x MNv2", "paper x R50"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label, row in rows.items():
        best_v, best_ms = row.best()
        paper = PAPER_MS.get(label)
        cells = [label, f"{row.params / 1e6:.3f} M", *[f"{row.ms[v]:.1f}" if v in row.ms else "-" for v in variants],
                 f"{best_ms:.1f} ({best_v})", f"{row.min_ms[best_v]:.1f}",
                 ratio(rows, label, "mobilenet_v2"), ratio(rows, label, "resnet50"),
                 ratio(rows, label, "mobilenet_v2", "eager"), ratio(rows, label, "resnet50", "eager"),
                 f"{paper:.1f}" if paper else "-",
                 f"{paper / PAPER_MS['mobilenet_v2']:.2f}" if paper else "-",
                 f"{paper / PAPER_MS['resnet50']:.2f}" if paper else "-"]
        print("| " + " | ".join(cells) + " |")
    for label, row in rows.items():
        if row.notes:
            print(f"- {label}: {'; '.join(row.notes)}")
    vit = "shufflenet_v2_vit"
    if vit in rows:
        for ref, goal in GOAL.items():
            if ref in rows:
                r = rows[vit].best()[1] / rows[ref].best()[1]
                print(f"- goal {vit} <= {goal}x {ref} (best variants): {r:.2f}x -> {'met' if r <= goal else 'MISSED'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="timed rounds per model and variant (default 50)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 10)")
    parser.add_argument("--quick", action="store_true", help="10 runs, 3 warm-up, no torch.compile")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--no-extra", action="store_true", help="skip the non-default option rows")
    parser.add_argument("--models", nargs="+", default=None, choices=list_models(), help="subset of models")
    parser.add_argument("--threads", nargs="+", type=int, default=None,
                        help="thread counts to run (default: 1 and all available)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffling")
    args = parser.parse_args(argv)
    args.runs = args.runs if args.runs is not None else (10 if args.quick else 50)
    args.warmup = args.warmup if args.warmup is not None else (3 if args.quick else 10)
    args.no_compile = args.no_compile or args.quick
    if args.runs < 1 or args.warmup < 0:
        parser.error(f"--runs must be >= 1 and --warmup >= 0, got {args.runs} and {args.warmup}")

    names = args.models or list_models()
    labels = {name: (name, {}) for name in names}
    if not args.no_extra:
        labels.update({k: v for k, v in EXTRA.items() if v[0] in names})
    all_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    thread_counts = args.threads or sorted({1, all_threads})

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {all_threads} CPUs, "
          f"runs {args.runs}, warm-up {args.warmup}, compile {'off' if args.no_compile else 'on'}")
    print(f"load average at start: {os.getloadavg()} (a shared machine inflates and scatters all numbers)")
    start = time.perf_counter()
    for threads in thread_counts:
        print_table(run(threads, labels, args), threads)
    print(f"\nload average at end: {os.getloadavg()}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
