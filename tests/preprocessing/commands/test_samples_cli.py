"""`python -m preprocessing samples`: the acceptance test on the real sheets, and the user-error paths."""

from __future__ import annotations

import csv
from collections import Counter

from preprocessing.cli import main
from tests.preprocessing.trees import CASME2_HEADER, write_frames, write_sheet


def dataset_flags(tree) -> list[str]:
    return [flag for name, root in tree.items() for flag in ("--dataset", f"{name}={root}")]


def test_megc2019_selects_the_official_442_clips(megc_tree, official, tmp_path, capsys):
    out = tmp_path / "out" / "megc2019.csv"
    assert main(["samples", "--protocol", "megc2019", *dataset_flags(megc_tree), "--csv", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) >= {"dataset", "subject", "clip", "label", "emotion", "onset", "apex", "offset"}
    ours = Counter((r["dataset"], r["subject"].split("/")[1], r["clip"], int(r["label"])) for r in rows)
    # the official list spells subjects sub01 / 6 / s01; ours are namespaced casme2/sub01, samm/006, smic/s01
    theirs = Counter((d, f"{int(s):03d}" if d == "samm" else s, c, label) for d, s, c, label in official)
    assert ours == theirs
    assert len(rows) == 442 and len({r["subject"] for r in rows}) == 68
    per_dataset = {d: (sum(r["dataset"] == d for r in rows), len({r["subject"] for r in rows if r["dataset"] == d}))
                   for d in ("smic", "casme2", "samm")}
    assert per_dataset == {"smic": (164, 16), "casme2": (145, 24), "samm": (133, 28)}
    assert Counter(r["label"] for r in rows) == {"0": 250, "1": 109, "2": 83}
    assert all(r["apex"] == "" for r in rows if r["dataset"] == "smic")

    printed = capsys.readouterr().out
    assert "protocol megc2019: 442 clips, 68 subjects" in printed
    assert "total      442        68       250       109        83" in printed
    assert "casme2  protocol  99  emotion 'others' is not in the 3-class protocol" in printed
    assert "apex equals onset\n      casme2/sub05/EP09_05f (both frame 69)" in printed

    with open(out.with_name("megc2019_exclusions.csv"), newline="") as f:
        excluded = list(csv.DictReader(f))
    assert list(excluded[0]) == ["dataset", "subject", "clip", "stage", "reason", "path"]
    # every sheet row is either selected or excluded with a reason (CASME II 255 rows, SAMM 159)
    assert Counter(r["dataset"] for r in excluded) == {"casme2": 255 - 145, "samm": 159 - 133}


def test_bad_rows_show_in_summary_and_exclusions_csv(tmp_path, capsys):
    rows = [["01", "EP01", None, 10, 12, 14, None, "4", "happiness"],
            ["01", "EP02", None, 10, 12, 14, None, "4", "disgust"],
            ["01", "EP03", None, 10, "/", 14, None, "4", "disgust"]]
    write_sheet(tmp_path / "CASME2-coding-20140508.xlsx", CASME2_HEADER, rows)
    write_frames(tmp_path / "sub01" / "EP01", ["img10.jpg", "img12.jpg", "img14.jpg"])
    write_frames(tmp_path / "sub01" / "EP03", ["img10.jpg", "img14.jpg"])
    out = tmp_path / "clips.csv"
    assert main(["samples", "--dataset", f"casme2={tmp_path}", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "protocol 3class: 1 clips, 1 subjects, 2 excluded" in printed
    assert "casme2  frames  1  clip folder missing\n      casme2/sub01/EP02 (EP02)" in printed
    assert "casme2  protocol  1  apex missing in the sheet ('/' or blank)\n      casme2/sub01/EP03" in printed
    with open(tmp_path / "clips_exclusions.csv", newline="") as f:
        assert [(r["clip"], r["stage"]) for r in csv.DictReader(f)] == [("EP02", "frames"), ("EP03", "protocol")]


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    def error(*argv: str) -> str:
        assert main(["samples", *argv]) == 2
        message = capsys.readouterr().err
        assert message.count("\n") == 1 and "Traceback" not in message
        return message

    assert "error: --dataset 'casme2=" in error("--dataset", f"casme2={tmp_path / 'absent'}")
    assert "unknown dataset 'casme9'" in error("--dataset", "casme9=/x")
    assert "no CASME II annotation sheet under" in error("--dataset", f"casme2={tmp_path}")
    assert "protocol megc2019 is the composite of casme2, samm, smic (missing samm, smic" in error(
        "--protocol", "megc2019", "--dataset", f"casme2={tmp_path}")
    assert "dataset 'smic' has no option 'sheet'" in error("--dataset", f"smic={tmp_path}",
                                                          "--dataset-option", "smic.sheet=x.xlsx")
