"""Predicting the classes of the user's own clips with a model bundle: the library behind
``python -m mer_ray.predict`` (:func:`predict_command`), :func:`predict_inputs` and :func:`write_table`.

An AU bundle (task ``au``) gives, instead of ``class`` and ``score_<class>``, ``aus`` (the AUs detected,
``"AU1+AU12"``) and per AU ``AU12_p`` (its probability) and ``AU12`` (1 present, 0 absent; empty for an AU the
bundle skipped): :func:`mer_ray.deploy.au_bundle.au_row`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer_ray.deploy.bundle import Bundle
from mer_ray.deploy.bundle_load import load_bundle


def predict_command(args: argparse.Namespace) -> int:
    """``python -m mer_ray.predict`` (``args``: its parsed command line): check the inputs, load the bundle, predict
    every input, write ``PREFIX.csv`` / ``PREFIX.json`` and print a summary. 0 when at least one input was
    predicted, 1 when none could be; a usage error raises :class:`~mer_ray.infra.errors.UsageError`, a missing or
    incompatible bundle ``BundleError``, both before Ray starts."""
    from preprocessing.clip_inputs import check_usage

    check_usage(args.inputs, args.onset, args.apex, "predict")
    bundle = load_bundle(args.model, args.device)
    work = Path(tempfile.mkdtemp(prefix="mer_ray_predict_"))
    try:
        table = predict_inputs(bundle, args.inputs, work, onset_frame=args.onset_frame, apex_frame=args.apex_frame,
                               pair=(args.onset, args.apex) if args.onset else None, explain=args.explain,
                               use_ray={"auto": None, "on": True, "off": False}[args.ray], device=args.device)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    csv_path, json_path = write_table(table, args.out)
    print_summary(table, bundle)
    print(f"table: {csv_path}, {json_path}" + (f"; explanations: {args.explain}" if args.explain else ""))
    return 0 if (table["status"] == "ok").any() else 1


def predict_inputs(bundle: Bundle, inputs: list[str], work: Path, *, onset_frame: int | None = None,
                   apex_frame: int | None = None, pair: tuple[str, str] | None = None, explain: Path | None = None,
                   use_ray: bool | None = None, device: str = "cpu", log=print) -> pd.DataFrame:
    """One table row per input (see the module doc); skipped inputs are reported on stderr, one line each."""
    from preprocessing.clip_inputs import process_inputs, resolve_inputs
    from preprocessing.vision.clip import SequenceConfig

    start = time.monotonic()
    items = resolve_inputs(inputs, work, onset_frame=onset_frame, apex_frame=apex_frame, pair=pair)
    # the bundle's preprocessing exactly; only the stored frame sequence (read by no network) is not made
    config = replace(bundle.preprocess, sequence=SequenceConfig(frames=0))
    outcomes = process_inputs(items, config, work, use_ray=use_ray)
    done = [o for o in outcomes if o.ok]
    predictions: dict[int, tuple[Any, np.ndarray]] = {}
    if done:
        y_pred, scores = bundle.predict(_feature_set(done), device)
        predictions = {id(o): (p, s) for o, p, s in zip(done, y_pred, scores)}
    labels = bundle.labels
    rows = []
    for outcome in outcomes:
        item = outcome.input
        prediction = predictions.get(id(outcome))
        row: dict[str, Any] = {"input": item.name, "kind": item.kind, "status": "ok" if outcome.ok else "skipped",
                               **prediction_columns(bundle, prediction), "score_kind": bundle.score_kind,
                               "onset": outcome.onset, "apex": outcome.apex,
                               "apex_spotted": outcome.apex_spotted if outcome.ok else None, "frames": item.frames,
                               "warnings": "; ".join(outcome.warnings), "stage": outcome.stage,
                               "reason": outcome.reason, "explanation": None}
        if outcome.ok:
            if explain is not None:
                predicted, scores = prediction
                shown = np.flatnonzero(predicted == 1).tolist() if bundle.task == "au" else int(predicted)
                row["explanation"] = str(_explain(explain, outcome, labels, scores, shown, bundle.score_kind))
        else:
            print(f"skipped {outcome.line()}", file=sys.stderr, flush=True)
        rows.append(row)
    log(f"{len(done)} of {len(outcomes)} inputs predicted in {time.monotonic() - start:.1f} s")
    table = pd.DataFrame(rows)
    present = dict.fromkeys(labels, "Int64") if bundle.task == "au" else {}
    return table.astype({"onset": "Int64", "apex": "Int64", "frames": "Int64", "apex_spotted": "boolean", **present})


def prediction_columns(bundle: Bundle, prediction: tuple[Any, np.ndarray] | None) -> dict[str, Any]:
    """One row's prediction columns (None: a skipped input): ``class`` and ``score_<class>``, or for an AU bundle
    ``aus`` and per AU ``AU<k>_p`` and ``AU<k>`` (:func:`mer_ray.deploy.au_bundle.au_row`)."""
    labels = bundle.labels
    if bundle.task == "au":
        from mer_ray.deploy.au_bundle import au_row

        return au_row(labels, *(prediction or (None, None)))
    if prediction is None:
        return {"class": None, **{f"score_{name}": None for name in labels}}
    predicted, scores = prediction
    return {"class": labels[int(predicted)], **{f"score_{name}": float(s) for name, s in zip(labels, scores)}}


def _feature_set(outcomes) -> Any:
    """The processed inputs as an in-memory FeatureSet (what the bundle's input builder reads)."""
    from mer_ray.data.features import FeatureSet

    meta = pd.DataFrame([{"sample_id": o.input.sample.sample_id, "dataset": "input", "subject": "input",
                          "clip": o.input.sample.clip, "emotion": "", "label": -1, "onset": o.onset, "apex": o.apex,
                          "offset": o.input.sample.offset, "apex_spotted": o.apex_spotted} for o in outcomes])
    stack = lambda name, dtype: np.stack([np.asarray(o.arrays[name], dtype) for o in outcomes])  # noqa: E731
    return FeatureSet(meta=meta, flow=stack("flow", np.float32), apex_face=stack("apex_face", np.uint8),
                      mask=stack("mask", np.uint8), landmarks=stack("landmarks", np.float32))


def _explain(folder: Path, outcome, labels, scores, predicted, score_kind) -> Path:
    from mer_ray.deploy.explain import explanation_png

    sample = outcome.input.sample
    apex = f"apex {outcome.apex} ({'spotted' if outcome.apex_spotted else 'given'})"
    return explanation_png(folder / f"{sample.clip}.png", title=f"{outcome.input.name}: onset {outcome.onset}, {apex}",
                           onset_face=outcome.arrays["onset_face"], mask=outcome.arrays["mask"],
                           flow=outcome.arrays["flow"], labels=labels, scores=np.asarray(scores), predicted=predicted,
                           score_kind=score_kind)


def write_table(table: pd.DataFrame, prefix: Path) -> tuple[Path, Path]:
    """``PREFIX.csv`` and ``PREFIX.json`` (a list of row objects)."""
    prefix = Path(prefix).expanduser()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = prefix.with_name(prefix.name + ".csv"), prefix.with_name(prefix.name + ".json")
    table.to_csv(csv_path, index=False)
    records = json.loads(table.to_json(orient="records"))
    json_path.write_text(json.dumps(records, indent=2) + "\n")
    return csv_path, json_path


def print_summary(table: pd.DataFrame, bundle: Bundle) -> None:
    """One line per predicted input: class and scores (an AU bundle: the AUs detected and every AU's probability),
    onset and apex."""
    from mer_ray.deploy.au_bundle import au_line

    for row in table.to_dict("records"):
        if row["status"] == "ok":
            if bundle.task == "au":
                said = au_line(row, bundle.labels)
            else:
                scores = ", ".join(f"{name} {row[f'score_{name}']:.3f}" for name in bundle.labels)
                said = f"{row['class']} ({scores})"
            spotted = "spotted" if row["apex_spotted"] else "given"
            print(f"{row['input']}: {said}; onset {row['onset']}, apex {row['apex']} ({spotted})"
                  + (f"; warnings: {row['warnings']}" if row["warnings"] else ""))
