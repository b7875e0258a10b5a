"""From dataset folders to a features folder: scan -> protocol -> Ray Data pipeline (shared by both CLIs)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from mer_ray.infra.runtime import cache_root
from preprocessing.annotations.datasets import only_demo, parse_dataset_options, parse_dataset_specs, scan_datasets
from preprocessing.annotations.protocols import ProtocolResult, apply_protocol, default_protocol
from preprocessing.features import shard_schema
from preprocessing.features.pipeline import PipelineSummary, run_pipeline
from preprocessing.vision.clip import PreprocessConfig

SMOKE_CLIPS_PER_SUBJECT = 2  # --smoke-test: a few clips per subject are enough to exercise every stage


@dataclass(frozen=True)
class Selection:
    specs: list[tuple[str, Path | None]]
    protocol: ProtocolResult
    is_demo: bool


def select_samples(
    datasets: list[str] | None,
    options: dict[str, dict[str, Any]] | None = None,
    protocol: str | None = None,
    *,
    smoke_test: bool = False,
) -> Selection:
    """Scan the datasets (the demo when none) and apply the protocol; ``smoke_test`` keeps a few clips."""
    specs = parse_dataset_specs(datasets or ["demo"])
    names = [name for name, _ in specs]
    is_demo = only_demo(names)
    options = dict(options or {})
    if is_demo and smoke_test:
        options.setdefault("demo", {}).setdefault("small", True)
    result = apply_protocol(protocol or default_protocol(names), scan_datasets(specs, options))
    if smoke_test:
        kept: dict[str, int] = {}
        samples = []
        for sample in result.samples:
            if kept.get(sample.subject, 0) < SMOKE_CLIPS_PER_SUBJECT:
                kept[sample.subject] = kept.get(sample.subject, 0) + 1
                samples.append(sample)
        result.samples = samples
    return Selection(specs=specs, protocol=result, is_demo=is_demo)


def default_features_dir(selection: Selection, config: PreprocessConfig, smoke_test: bool) -> Path:
    """A cache folder keyed by the datasets, protocol and configuration (re-runs reuse it).

    A dataset without a root (the built-in demo) is keyed by where its frames are: demos of two presets or
    generator settings share clip names, and must not share a cache folder.
    """
    rootless = {name for name, root in selection.specs if root is None}
    frames = [s.frames[0] for s in selection.protocol.samples if s.dataset in rootless and s.frames]
    key = json.dumps(
        {
            **({"frames_root": os.path.commonpath([str(Path(f).resolve().parent) for f in frames])}
               if frames else {}),
            "datasets": [(name, str(root.resolve()) if root else None) for name, root in selection.specs],
            "protocol": selection.protocol.protocol,
            "config": config.config_hash(),
            "schema": shard_schema.SCHEMA_VERSION,  # a new shard layout builds a new cache
            "samples": sorted(s.sample_id for s in selection.protocol.samples),
        },
        sort_keys=True,
    )
    tag = "-".join(name for name, _ in selection.specs) + ("-smoke" if smoke_test else "")
    return cache_root() / "features" / f"{tag}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def build_features(
    selection: Selection,
    out: Path | None,
    config: PreprocessConfig | None = None,
    *,
    smoke_test: bool = False,
    num_actors: int | None = None,
) -> PipelineSummary:
    """Run the Ray Data pipeline for a selection (Ray must be initialised); idempotent for the same folder."""
    config = config or PreprocessConfig()
    out = Path(out) if out else default_features_dir(selection, config, smoke_test)
    provenance = {
        "protocol": selection.protocol.protocol,
        "datasets": {name: (str(root.resolve()) if root else "built-in demo") for name, root in selection.specs},
        "smoke_test": smoke_test,
    }
    return run_pipeline(
        selection.protocol.samples,
        out,
        config,
        exclusions=selection.protocol.exclusions,
        provenance=provenance,
        num_actors=num_actors,
    )


def resolve_features(
    features: Path | None,
    datasets: list[str] | None,
    dataset_options: list[str] | None = None,
    protocol: str | None = None,
    *,
    smoke_test: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The features folder a command works on: ``features`` as given (absolute), else ``datasets`` (``NAME=DIR``
    specs; none: the built-in demo) preprocessed into the feature cache, which a re-run reuses.

    Ray must be initialised when ``features`` is None. ``log`` gets the progress lines (default: printed). Raises
    ``ValueError`` (``DatasetError`` among them) for a bad dataset spec, option or protocol and ``PipelineError``
    when the pipeline cannot run.
    """
    log = log or partial(print, flush=True)
    if features:
        return Path(features).expanduser().resolve()
    if not datasets:
        log("no --features or --dataset given: using the built-in demo dataset (real faces, synthetic "
            "micro-motions, CASME II layout); generated and preprocessed on first use")
    selection = select_samples(datasets, parse_dataset_options(dataset_options or []), protocol,
                               smoke_test=smoke_test)
    summary = build_features(selection, None, smoke_test=smoke_test)
    log(f"features: {summary.out} ({summary.processed} clips, {summary.rejected} rejected; "
        f"{summary.seconds:.0f} s)")
    return summary.out
