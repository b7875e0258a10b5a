"""`--repeats N` under `--task au`: each repeat's mean F1, mean +- std over the repeats (per AU too), skipped AUs
left out as in one run, and the paired interval of the mean over the repeats against the probe."""

import math

import numpy as np
import pandas as pd
import pytest

from mer_ray.evaluation import au_task
from mer_ray.evaluation.au_report import (
    au_repeats_summary,
    compare_with_probe,
    print_au_results,
    write_au_report,
)
from mer_ray.evaluation.au_task import repeated_paired_bootstrap
from mer_ray.search.run_folder import RunFolder
from mer_ray.search.spec import RunSpec

TASK = au_task.AuTask((1, 2, 4))
SUBJECTS = ("s0", "s1", "s2", "s3")
S = au_task.SKIPPED


def frame(config_id: str, au1_pred) -> pd.DataFrame:
    """16 clips, 4 per subject (fold = subject). AU1: present on every other clip, predicted ``au1_pred(i, true)``;
    AU2: present on clips 0, 1 of each subject, predicted right except in fold s0, which skipped it; AU4: skipped in
    every fold (scored nowhere)."""
    rows = []
    for s, subject in enumerate(SUBJECTS):
        for c in range(4):
            i = 4 * s + c
            au1, au2 = int(i % 2 == 0), int(c < 2)
            rows.append({"config_id": config_id, "dataset": "casme2", "subject": subject, "fold": subject,
                         "sample": f"{subject}/c{c}", "y_true": [au1, au2, int(c == 3)],
                         "y_pred": [au1_pred(i, au1), S if subject == "s0" else au2, S]})
    return pd.DataFrame(rows)


def perfect(i, true):
    return true


def never(i, true):
    return 0


def board(*frames: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{"config_id": f["config_id"].iloc[0], "state": "COMPLETE", "param_method": "linear_probe",
                          **au_task.au_scores(f, TASK)} for f in frames])


def test_two_repeats_with_known_per_au_f1_give_the_exact_mean_and_std():
    # AU1: repeat 1 perfect (macro 1, binary 1); repeat 2 predicts "absent" on all 16 clips: binary 0, absent F1
    # 2*8 / (2*8 + 8) = 2/3, macro 1/3. AU2: perfect where scored (1, 1). AU4: scored in no fold: left out.
    a, b = frame("c000", perfect), frame("c001", never)
    summary = au_repeats_summary(board(a, b), pd.concat([a, b]), None, TASK, n_boot=20)
    assert summary.ids == ("c000", "c001")
    assert summary.f1_macro == pytest.approx((1.0, (1 / 3 + 1) / 2))
    assert summary.f1_binary == pytest.approx((1.0, 0.5))
    per_au = summary.per_au.set_index("AU")
    assert per_au.loc["AU1", "F1 macro"] == pytest.approx((1.0, 1 / 3))
    assert per_au.loc["AU1", "F1 binary"] == pytest.approx((1.0, 0.0))
    assert np.isnan(per_au.loc["AU4", "F1 macro"]).all()
    assert per_au.loc["AU2", "folds skipped"] == "1/4" and per_au.loc["AU4", "folds skipped"] == "4/4"
    assert per_au.loc["AU2", "positives"] == 8  # the skipped fold's positives still counted as held-out clips
    lines = "\n".join(summary.section())
    # sample std of two values: |a - b| / sqrt(2)
    au1 = f"| AU1 | 8 | {2 / 3:.4f} +- {(2 / 3) / math.sqrt(2):.4f} | 0.5000 +- {1 / math.sqrt(2):.4f} | 0/4 |"
    assert au1 in lines
    assert "| AU2 | 8 | 1.0000 +- 0.0000 | 1.0000 +- 0.0000 | 1/4 |" in lines
    assert "| AU4 | 4 | - | - | 4/4 |" in lines
    mean, std = (1 + 2 / 3) / 2, (1 / 3) / math.sqrt(2)
    assert f"| **mean +- std** | **{mean:.4f} +- {std:.4f}** | **0.7500 +- {0.5 / math.sqrt(2):.4f}** |" in lines
    assert "| `c000` | 1.0000 | 1.0000 |" in lines and "| `c001` | 0.6667 | 0.5000 |" in lines
    assert summary.sentence().startswith(f"mean macro F1 {mean:.4f} +- {std:.4f}, mean binary F1 0.7500 +- ")
    assert summary.versus is None and "against the linear probe" not in summary.sentence()


def test_identical_repeats_have_std_zero_and_the_single_run_interval():
    a = frame("c000", lambda i, true: true if i % 3 else 1 - true)
    probe = frame("probe", lambda i, true: true if i % 5 else 1 - true)
    b = a.assign(config_id="c001")
    single = au_task.paired_bootstrap(a, probe, n_boot=200, seed=3)
    assert repeated_paired_bootstrap([a], probe, n_boot=200, seed=3) == single
    assert repeated_paired_bootstrap([a, b], probe, n_boot=200, seed=3) == single
    summary = au_repeats_summary(board(a, b), pd.concat([a, b]), probe, TASK, n_boot=200, seed=3)
    assert summary.f1_macro[0] == summary.f1_macro[1]
    assert " +- 0.0000" in summary.sentence() and "+- 0.0000" in "\n".join(summary.per_au_lines())
    one = compare_with_probe(a, probe, n_boot=200, seed=3)
    v = summary.versus
    assert (v.difference, v.low, v.high) == single and (v.model, v.probe) == pytest.approx((one.model, one.probe))
    assert v.binary == pytest.approx(one.binary)
    assert "the same subjects drawn for every repeat and the probe" in summary.sentence()


def test_the_repeated_interval_draws_one_set_of_subjects_and_refuses_other_clips():
    a, b = frame("c000", perfect), frame("c001", never)
    probe = frame("probe", lambda i, true: true if i % 3 else 1 - true)
    diff, low, high = repeated_paired_bootstrap([a, b], probe, n_boot=300, seed=1)
    first = au_task.paired_bootstrap(a, probe, n_boot=10)[0]
    second = au_task.paired_bootstrap(b, probe, n_boot=10)[0]
    assert diff == pytest.approx((first + second) / 2) and low <= diff <= high
    with pytest.raises(ValueError, match="same clips"):
        repeated_paired_bootstrap([a, b.iloc[1:]], probe, n_boot=10)
    with pytest.raises(ValueError, match="AU targets"):
        other = b.copy()
        other.at[0, "y_true"] = [0, 0, 0]
        repeated_paired_bootstrap([a, other], probe, n_boot=10)
    with pytest.raises(ValueError, match="metric"):
        repeated_paired_bootstrap([a], probe, metric="uar", n_boot=10)


def test_the_au_report_of_repeats_gives_mean_and_std_the_per_au_table_and_the_skips(tmp_path, capsys):
    spec = RunSpec(space="recommended", features="/f", datasets=["casme2"], task="au", aus=[1, 2, 4],
                   objective="f1_macro", subjects=4, repeats=2)
    a, b = frame("c000", perfect), frame("c001", never)
    probe = frame("probe", lambda i, true: true if i % 3 else 1 - true)
    folder = RunFolder(tmp_path / "run").make()
    for part in (a, b):
        cid = part["config_id"].iloc[0]
        for subject in SUBJECTS:
            skipped = {"AU4": "0 positive training clips < 3"}
            if subject == "s0":
                skipped["AU2"] = "2 positive training clips < 3"
            folder.write_fold(part[part["fold"] == subject], cid, subject)
            folder.write_fold_details({"au": {"skipped": skipped}}, cid, subject)
    predictions = pd.concat([a, b], ignore_index=True)
    text = write_au_report(folder, board(a, b), predictions, spec, probe=probe, n_boot=50).read_text()
    assert "## Repeats: 2 trainings of one configuration with other seeds" in text
    assert "| **mean +- std** | **0.8333 +- 0.2357** | **0.7500 +- 0.3536** |" in text
    assert "### Per AU over the repeats" in text
    assert ("| AU | positives | F1 macro (mean +- std) | F1 binary (mean +- std) | folds skipped | probe F1 macro | "
            "probe F1 binary |") in text
    assert "## Against the linear probe" in text and "The mean over the 2 repeats" in text
    assert "the same subjects drawn for every repeat and the probe" in text
    assert "## First repeat: `c000`" in text and "## Best configuration" not in text and "Optimistic" not in text
    assert "| s0 | AU2 | 2 positive training clips < 3 |" in text and "Every one of the 2 repeats skipped" in text
    assert text.count("## Against the linear probe") == 1
    assert print_au_results(board(a, b), predictions, spec, probe)
    out = capsys.readouterr().out
    assert "2 repeats of one configuration (other seeds): mean macro F1 0.8333 +- 0.2357" in out
    assert "paired 95% CI [" in out and "AU1 0.6667 +- 0.4714" in out and "AU4 -" in out


def test_repeats_that_skipped_differently_say_which(tmp_path):
    folder = RunFolder(tmp_path / "run").make()
    for cid, skipped in (("c000", {"AU2": "2 positive training clips < 3"}), ("c001", {})):
        part = frame(cid, perfect)
        folder.write_fold(part[part["fold"] == "s0"], cid, "s0")
        folder.write_fold_details({"au": {"skipped": skipped}}, cid, "s0")
    from mer_ray.evaluation.au_report import skipped_section

    assert "| s0 | AU2 | 2 positive training clips < 3 | c000 |" in skipped_section(folder, ["c000", "c001"])
    assert skipped_section(folder, ["c001"]) == ["No AU was skipped in any fold.", ""]
