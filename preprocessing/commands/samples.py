"""List the clips a protocol selects from the given datasets, per dataset and class, with every exclusion.

Example::

    python -m preprocessing samples --protocol megc2019 \\
        --dataset casme2=/data/CASME2 --dataset samm=/data/SAMM --dataset smic=/data/SMIC --csv megc2019.csv

``--csv FILE`` writes one row per selected clip, and ``FILE``'s stem + ``_exclusions.csv`` one row per
excluded clip (dataset, subject, clip, stage, reason, path).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

from mer_ray.infra.errors import as_usage_error
from preprocessing.annotations.datasets import list_datasets, parse_dataset_options, parse_dataset_specs, scan_datasets
from preprocessing.annotations.protocols import (
    ProtocolResult,
    apply_protocol,
    check_protocol,
    default_protocol,
    list_protocols,
)
from preprocessing.annotations.sample import LABELS

SAMPLE_COLUMNS = ("dataset", "subject", "clip", "label", "label_name", "emotion", "onset", "apex", "offset",
                  "num_frames", "folder")
EXCLUSION_COLUMNS = ("dataset", "subject", "clip", "stage", "reason", "path")
EXAMPLES = 3  # excluded clips shown per reason in the printed summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``samples`` command's flags."""
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--dataset", action="append", required=True, metavar="NAME=DIR",
                        help="a dataset and its root folder; repeat for several "
                             f"(datasets: {', '.join(list_datasets())})")
    parser.add_argument("--dataset-option", action="append", default=[], metavar="NAME.KEY=VALUE",
                        help="override an adapter's layout detection, e.g. casme2.frames_dir=Cropped, "
                             "samm.sheet=/data/SAMM/codes.xlsx, smic.frames_dir=SMIC_all_cropped/HS")
    parser.add_argument("--protocol", choices=list_protocols(),
                        help="megc2019: the CASME II + SAMM + SMIC composite; 3class: the same mapping and rules for "
                             "any dataset or subset (default: megc2019 for exactly casme2, samm and smic, else 3class)")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="write the selected clips to FILE and the excluded ones to FILE's stem + _exclusions.csv")


def run(args: argparse.Namespace) -> int:
    """Scan, apply the protocol, print the summary, write the CSVs; 0. A user error (a bad dataset, option or
    protocol, an unwritable CSV) raises :class:`~mer_ray.infra.errors.UsageError`."""
    with as_usage_error(ValueError, OSError):  # DatasetError among them
        specs = parse_dataset_specs(args.dataset)
        options = parse_dataset_options(args.dataset_option)
        names = [name for name, _ in specs]
        protocol = args.protocol or default_protocol(names)
        check_protocol(protocol, names)
        result = apply_protocol(protocol, scan_datasets(specs, options))
        print(format_summary(result))
        if args.csv is not None:
            exclusions_path = write_csvs(result, args.csv)
            print(f"\nwrote {len(result.samples)} clips to {args.csv} and {len(result.exclusions)} exclusions to "
                  f"{exclusions_path}")
    return 0


def format_summary(result: ProtocolResult) -> str:
    """The printed summary: where each dataset was found, a per-dataset table, and the exclusions by reason."""
    lines = [f"protocol {result.protocol}: {len(result.samples)} clips, {len(result.subjects())} subjects, "
             f"{len(result.exclusions)} excluded", ""]
    for scan in result.scans:
        lines.append(f"{scan.dataset}: {scan.root}")
        lines.extend(f"  {note}" for note in scan.notes)
    header = ("dataset", "clips", "subjects", *LABELS, "excluded")
    rows = [(d, len(result.samples_of(d)), len(result.subjects(d)), *result.class_counts(d).values(),
             len(result.exclusions_of(d))) for d in result.datasets]
    rows.append(("total", len(result.samples), len(result.subjects()), *result.class_counts().values(),
                 len(result.exclusions)))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines.append("")
    for row in [header, *rows]:
        lines.append("  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in
                               enumerate(zip(row, widths))))
    groups = result.exclusion_groups()
    if groups:
        lines += ["", "excluded clips by reason:"]
        for group in groups:
            lines.append(f"  {group.dataset}  {group.stage}  {len(group.exclusions)}  {group.cause}")
            examples = []
            for exclusion in group.exclusions[:EXAMPLES]:
                detail = exclusion.reason[len(group.cause):].removeprefix(": ")
                examples.append(f"{exclusion.sample_id} ({detail})" if detail else exclusion.sample_id)
            more = len(group.exclusions) - EXAMPLES
            lines.append("      " + ", ".join(examples) + (f" (+{more} more)" if more > 0 else ""))
    return "\n".join(lines)


def exclusions_csv_path(csv_path: Path) -> Path:
    """The companion exclusions table of ``csv_path``: ``clips.csv`` -> ``clips_exclusions.csv``."""
    return csv_path.with_name(f"{csv_path.stem}_exclusions{csv_path.suffix or '.csv'}")


def write_csvs(result: ProtocolResult, csv_path: Path) -> Path:
    """Write the selected clips to ``csv_path`` and the exclusions beside it; return the exclusions' path."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SAMPLE_COLUMNS)
        for s in result.samples:
            folder = os.path.dirname(s.frames[0]) if s.frames else ""
            writer.writerow((s.dataset, s.subject, s.clip, s.label, LABELS[s.label], s.emotion, s.onset,
                             "" if s.apex is None else s.apex, s.offset, len(s.frames), folder))
    exclusions_path = exclusions_csv_path(csv_path)
    with open(exclusions_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(EXCLUSION_COLUMNS)
        for e in result.exclusions:
            writer.writerow((e.dataset, e.subject, e.clip, e.stage, e.reason, e.path))
    return exclusions_path
