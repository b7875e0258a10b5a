"""`python -m mer_ray.loso`: the smoke path end to end on a real local Ray cluster, plus user errors."""

import json

import optuna
import pandas as pd
import pytest

from mer_ray.loso import main

pytestmark = pytest.mark.ray


def test_unknown_space_lists_the_valid_ones(capsys):
    assert main(["--search", "vitt"]) == 2
    assert "valid spaces: recommended, vit, cbam, baseline, paper, ablation" in capsys.readouterr().err


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, ray_local):
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MER_RAY_CACHE", str(cache))
        code = main(["--search", "vit", "--smoke-test", "--out", str(out), "--seed", "3"])
    [run_dir] = [p for p in out.iterdir() if p.is_dir()]
    return code, run_dir, cache


def test_smoke_run_writes_every_output(smoke_run):
    code, run_dir, _ = smoke_run
    assert code == 0
    board = pd.read_csv(run_dir / "leaderboard.csv")
    for column in ("config_id", "uar", "uf1", "accuracy", "uar_demo", "uf1_demo", "param_model", "param_lr"):
        assert column in board
    assert len(board) == 2 and (board["state"] == "COMPLETE").all()
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert {"config_id", "subject", "sample", "y_true", "y_pred", "scores"} <= set(predictions.columns)
    assert not predictions.duplicated(["config_id", "sample"]).any()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["space"] == "vit" and info["smoke_test"] and info["seed"] == 3
    study = optuna.load_study(study_name="loso", storage=f"sqlite:///{run_dir / 'optuna.db'}")
    assert len(study.trials) == 2


def test_report_marks_the_searched_score_optimistic_and_has_confusion_images(smoke_run):
    _, run_dir, _ = smoke_run
    report = (run_dir / "report.md").read_text()
    assert "Optimistic estimate" in report
    assert "95%" in report
    assert "linear probe (reference)" in report and "the linear probe" in report  # its row and the verdict
    assert (run_dir / "reference" / "probe" / "optuna.db").is_file()
    images = list(run_dir.glob("confusion_*.png"))
    assert images and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in images)
    for image in images:
        assert image.name in report


def test_resume_of_a_finished_run_runs_nothing_and_keeps_results(smoke_run, capsys):
    _, run_dir, cache = smoke_run
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.glob("folds/*/*.parquet"))
    board = pd.read_csv(run_dir / "leaderboard.csv")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MER_RAY_CACHE", str(cache))
        assert main(["--search", "vit", "--resume", str(run_dir)]) == 0
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run_dir.glob("folds/*/*.parquet")) == before
    pd.testing.assert_frame_equal(pd.read_csv(run_dir / "leaderboard.csv")[["config_id", "uar", "uf1"]],
                                  board[["config_id", "uar", "uf1"]])


def test_resume_with_another_space_is_refused(smoke_run, capsys):
    _, run_dir, _ = smoke_run
    assert main(["--search", "cbam", "--resume", str(run_dir)]) == 2
    assert "is a 'vit' run" in capsys.readouterr().err


def _no_ray(*args, **kwargs):
    raise AssertionError("Ray was started")


@pytest.mark.parametrize("kind", ["missing", "file", "empty folder", "manifest-less folder"])
def test_a_features_folder_that_is_not_one_is_refused_before_ray(tmp_path, capsys, monkeypatch, kind):
    import mer_ray.infra.runtime

    monkeypatch.setattr(mer_ray.infra.runtime, "init_ray", _no_ray)
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    given = tmp_path / "features"
    if kind == "file":
        given.write_text("x")
    elif kind != "missing":
        given.mkdir()
        if kind == "manifest-less folder":
            (given / "shards").mkdir()
    out = tmp_path / "runs"
    assert main(["--search", "vit", "--features", str(given), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    expected = {
        "missing": f"error: --features {given}: no such folder; give the --out folder of "
                   "`python -m preprocessing run`",
        "file": f"error: --features {given}: not a folder; give the --out folder of "
                "`python -m preprocessing run`",
    }.get(kind, f"error: --features {given}: {given / 'manifest.json'} not found: {given} is not a complete features "
                f"folder; run `python -m preprocessing run --out {given}` (an interrupted run resumes)")
    assert line == expected
    assert not out.exists() and "linear probe" not in captured.out


def test_a_resumed_run_whose_features_folder_is_gone_is_refused_before_ray(tmp_path, capsys, monkeypatch):
    import mer_ray.infra.runtime
    from mer_ray.search.spec import RunSpec

    monkeypatch.setattr(mer_ray.infra.runtime, "init_ray", _no_ray)
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    run.mkdir()
    RunSpec(space="vit", features=str(tmp_path / "gone")).to_json(run / "run.json")
    assert main(["--search", "vit", "--resume", str(run)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --resume {run}: its features folder {tmp_path / 'gone'}: no such folder")


def test_the_command_line_refuses_a_missing_features_folder_at_once_without_ray(tmp_path):
    """The real command, as a user types it: exit 2, one ``error:`` line, no Ray started, no run folder."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "MER_RAY_CACHE": str(tmp_path / "cache")}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "mer_ray.loso", "--search", "recommended", "--features",
                           str(tmp_path / "nowhere"), "--out", str(tmp_path / "runs")], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - start
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert lines == [f"error: --features {tmp_path / 'nowhere'}: no such folder; give the --out folder of "
                     "`python -m preprocessing run`"], done.stderr
    assert "Ray" not in done.stdout + done.stderr  # no "Started a local Ray instance"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache" / "ray").exists()
    assert seconds < 20, f"took {seconds:.1f} s"


@pytest.mark.slow
def test_nested_smoke_run_reports_the_unbiased_outer_score(tmp_path, ray_local):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
        code = main(["--search", "vit", "--smoke-test", "--nested", "--inner-folds", "2",
                     "--out", str(tmp_path / "runs")])
    assert code == 0
    [run_dir] = list((tmp_path / "runs").iterdir())
    report = (run_dir / "report.md").read_text()
    assert "unbiased" in report
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert (predictions["config_id"] == "nested").all()
    assert predictions["sample"].is_unique
    choices = pd.read_csv(run_dir / "nested_choices.csv")
    assert len(choices) == predictions["subject"].nunique()


def test_a_method_whose_inputs_are_missing_is_refused_before_any_trial(tmp_path, ray_local, capsys):
    """LBP-TOP on a folder made without frame sequences: one message, exit 2, no run folder, no probe, no trial."""
    from tests.mer_ray._synthetic import synthetic_features, write_features_folder

    folder = write_features_folder(synthetic_features(n_subjects=3, clips=3, size=16), tmp_path / "features",
                                   {"protocol": "3class", "datasets": {"casme2": "/data/CASME2"}})
    out = tmp_path / "runs"
    assert main(["--search", "lbptop", "--features", str(folder), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert ("error: method 'lbptop' needs the aligned frame sequence onset..offset (`sequence`), which the features "
            f"folder {folder} does not store") in captured.err
    assert ("`python -m preprocessing run --protocol 3class --dataset casme2=/data/CASME2 --face-size 16 "
            "--sequence-frames 8 --out NEW_FOLDER`") in captured.err
    assert "linear probe" not in captured.out and not out.exists()


# ---- cross-dataset protocols: user errors before Ray ------------------------------------------------------------

@pytest.fixture
def no_ray(tmp_path, monkeypatch):
    import mer_ray.infra.runtime

    monkeypatch.setattr(mer_ray.infra.runtime, "init_ray", _no_ray)
    monkeypatch.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _two_dataset_folder(tmp_path):
    from tests.mer_ray._synthetic import synthetic_features, write_features_folder

    return write_features_folder(synthetic_features(n_subjects=4, clips=2, size=16, datasets=("d1", "d2")),
                                 tmp_path / "features", {"protocol": "3class"})


def _one_error_line(capsys, argv, out):
    assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert not out.exists() and "linear probe" not in captured.out
    return line


def test_a_cross_dataset_protocol_on_the_one_dataset_demo_is_refused_before_ray(no_ray, capsys):
    line = _one_error_line(capsys, ["--search", "vit", "--dataset", "demo", "--protocol", "lodo"], no_ray / "runs")
    assert line.startswith("error: --protocol lodo: a cross-dataset protocol needs features with at least two "
                           "datasets; these hold one: demo (the built-in demo is one dataset: give no --dataset to "
                           "use its three layouts")


def test_given_no_data_a_cross_dataset_protocol_names_the_demo_layouts(no_ray, capsys):
    line = _one_error_line(capsys, ["--search", "vit", "--test-dataset", "casme2"], no_ray / "runs")
    assert line == ("error: --test-dataset casme2: 'casme2' is not a dataset of the features; they hold: "
                    "demo-casme2, demo-casme3, demo-samm")
    line = _one_error_line(capsys, ["--search", "vit", "--subset", "demo-samm", "--protocol", "lodo"],
                           no_ray / "runs")
    assert line.endswith("these hold one: demo-samm (--subset keeps fewer than two of the demo's layouts)")


def test_an_unknown_test_dataset_lists_the_datasets_of_the_features(no_ray, capsys):
    folder = _two_dataset_folder(no_ray)
    line = _one_error_line(capsys, ["--search", "vit", "--features", str(folder), "--test-dataset", "smic"],
                           no_ray / "runs")
    assert line == "error: --test-dataset smic: 'smic' is not a dataset of the features; they hold: d1, d2"


def test_a_one_dataset_subset_of_a_composite_is_refused_too(no_ray, capsys):
    folder = _two_dataset_folder(no_ray)
    line = _one_error_line(capsys, ["--search", "vit", "--features", str(folder), "--subset", "d1", "--protocol",
                                    "lodo"], no_ray / "runs")
    assert line == ("error: --protocol lodo: a cross-dataset protocol needs features with at least two datasets; "
                    "these hold one: d1")


@pytest.mark.parametrize("flags, expected", [
    (["--protocol", "loso", "--test-dataset", "d1"], "error: --test-dataset d1 trains on the other datasets and tests "
     "on this one (a leave-one-dataset-out fold); it cannot go with --protocol loso: drop one of them"),
    (["--protocol", "lodo", "--nested"], "error: --nested searches inside leave-one-subject-out folds only; it cannot "
     "go with --protocol lodo: drop one of them"),
])
def test_contradictory_protocol_flags_are_refused_before_ray(no_ray, capsys, flags, expected):
    folder = _two_dataset_folder(no_ray)
    line = _one_error_line(capsys, ["--search", "vit", "--features", str(folder), *flags], no_ray / "runs")
    assert line == expected


@pytest.mark.parametrize("recorded, flags, message", [
    ({"protocol": "lodo"}, ["--protocol", "loso"], "is a --protocol lodo run; got --protocol loso"),
    ({}, ["--protocol", "lodo"], "is a --protocol loso run; got --protocol lodo"),  # an old run.json: LOSO
    ({"protocol": "lodo", "test_dataset": "d1"}, ["--test-dataset", "d2"],
     "is a --test-dataset d1 run; got --test-dataset d2"),
])
def test_resume_with_another_protocol_is_refused_before_ray(no_ray, capsys, recorded, flags, message):
    from mer_ray.search.spec import RunSpec

    run = no_ray / "run"
    run.mkdir()
    RunSpec(space="vit", features=str(_two_dataset_folder(no_ray)), datasets=["d1", "d2"],
            **recorded).to_json(run / "run.json")
    if not recorded:  # written by a version without the protocols
        info = json.loads((run / "run.json").read_text())
        del info["protocol"], info["test_dataset"]
        (run / "run.json").write_text(json.dumps(info))
    assert main(["--search", "vit", "--resume", str(run), *flags]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == (f"error: --resume {run} {message}: drop --protocol / --test-dataset to continue it, or start a "
                    "new run")


def test_resume_reuses_the_recorded_protocol(tmp_path):
    from mer_ray.loso import build_parser
    from mer_ray.search.driver import LosoRun
    from mer_ray.search.spec import RunSpec

    spec = RunSpec(space="vit", features="/f", protocol="lodo", test_dataset="d2", datasets=["d1", "d2"])
    for flags in ([], ["--test-dataset", "d2"], ["--protocol", "lodo", "--test-dataset", "d2"]):
        args = build_parser().parse_args(["--search", "vit", "--resume", str(tmp_path), *flags])
        assert LosoRun(args).resolve_protocol(spec) == ("lodo", "d2")


# ---- --repeats: user errors before Ray ---------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "expected"), [
    (["--search", "vit", "--repeats", "3"], "--repeats 3 retrains one fixed configuration with other seeds; search "
                                            "space 'vit' searches (tpe)"),
    (["--search", "recommended", "--repeats", "0"], "--repeats 0: expected an integer >= 1"),
    (["--search", "recommended", "--repeats", "2", "--nested"], "--repeats 2 cannot go with --nested"),
], ids=["search", "zero", "nested"])
def test_repeats_of_anything_but_one_fixed_configuration_are_refused(no_ray, capsys, argv, expected):
    line = _one_error_line(capsys, [*argv, "--features", str(_two_dataset_folder(no_ray))], no_ray / "runs")
    assert expected in line


# ---- --task au: user errors before any trial, resume, and the smoke run ------------------------------------------

def _folder_without_codes_in(tmp_path, dataset):
    import dataclasses

    from tests.mer_ray._synthetic import synthetic_features, write_features_folder

    features = synthetic_features(n_subjects=4, clips=3, size=16, datasets=("casme2", dataset))
    meta = features.meta.copy()
    meta.loc[meta["dataset"] == dataset, "action_units"] = ""
    return write_features_folder(dataclasses.replace(features, meta=meta), tmp_path / "features",
                                 {"protocol": "megc2019"})


def test_au_detection_on_a_dataset_without_au_codes_is_refused_before_any_trial(no_ray, capsys):
    folder = _folder_without_codes_in(no_ray, "smic")
    line = _one_error_line(capsys, ["--search", "probe", "--task", "au", "--features", str(folder)], no_ray / "runs")
    assert line.startswith("error: --task au: dataset 'smic' (6 clips) has no action-unit codes: the features' "
                           "`action_units` column (the coding sheet's `Action Units` column")
    assert "AU detection needs FACS codes per clip" in line and "--subset casme2" in line


@pytest.mark.parametrize(("flags", "expected"), [
    (["--search", "probe", "--aus", "1,2"], "error: --aus sets the AU detection targets: it needs --task au"),
    (["--search", "probe", "--objective", "f1_macro"], "error: --objective f1_macro is an AU detection score"),
    (["--search", "probe", "--task", "au", "--objective", "uar"], "error: --objective uar scores the emotion classes"),
    (["--search", "probe", "--task", "au", "--aus", "1,x"], "error: --aus 1,x: 'x' is not an AU number"),
    (["--search", "vit", "--task", "au"], "error: --task au runs a fixed or grid space"),
    (["--search", "paper", "--task", "au"], "error: --search paper: --task au: classifier='hinge' has no multi-label"),
    (["--search", "recommended", "--task", "au", "--nested"], "error: --task au runs LOSO or "
     "leave-one-dataset-out folds; it cannot go with --nested yet (--repeats N of a fixed configuration can): "
     "drop --nested"),
    (["--search", "recommended", "--task", "au", "--repeats", "2", "--nested"], "error: --repeats 2 cannot go with "
     "--nested"),
], ids=["aus-alone", "au-objective", "emotion-objective", "bad-aus", "tpe-space", "hinge", "nested",
        "repeats-nested"])
def test_au_options_that_cannot_run_are_refused_before_ray(no_ray, capsys, flags, expected):
    line = _one_error_line(capsys, [*flags, "--features", str(_two_dataset_folder(no_ray))], no_ray / "runs")
    assert line.startswith(expected)


@pytest.mark.parametrize(("recorded", "flags", "message"), [
    ({"task": "au", "aus": [1, 2]}, ["--task", "emotion"], "is a --task au run; got --task emotion"),
    ({}, ["--task", "au"], "is a --task emotion run; got --task au"),
])
def test_resume_with_another_task_is_refused_before_ray(no_ray, capsys, recorded, flags, message):
    from mer_ray.search.spec import RunSpec

    run = no_ray / "run"
    run.mkdir()
    RunSpec(space="probe", features=str(_two_dataset_folder(no_ray)), datasets=["d1", "d2"],
            **recorded).to_json(run / "run.json")
    assert main(["--search", "probe", "--resume", str(run), *flags]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"error: --resume {run} {message}: drop --task to continue it, or start a new run"


@pytest.mark.slow
def test_au_smoke_run_of_the_recommended_recipe_reports_per_au_and_per_dataset(tmp_path, ray_local, capsys):
    """`--search recommended --task au --smoke-test` on the built-in demo: the report's per-AU table, the probe
    beside it, the per-dataset table; run.json records the task; --resume runs nothing again."""
    out = tmp_path / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
        assert main(["--search", "recommended", "--task", "au", "--smoke-test", "--out", str(out)]) == 0
        [run_dir] = [p for p in out.iterdir() if p.is_dir()]
        spec = json.loads((run_dir / "run.json").read_text())
        assert spec["task"] == "au" and spec["aus"] and spec["objective"] == "f1_macro"
        report = (run_dir / "report.md").read_text()
        for heading in ("(AU detection)", "## Per AU", "| AU | positives | F1 macro | F1 binary | folds skipped | "
                        "probe F1 macro | probe F1 binary |", "| **mean** |", "## Scores per dataset",
                        "## Against the linear probe", "## Portfolio: members and combination"):
            assert heading in report
        predictions = pd.read_parquet(run_dir / "predictions.parquet")
        assert {len(v) for v in predictions["y_pred"]} == {len(spec["aus"])}
        capsys.readouterr()
        assert main(["--search", "recommended", "--resume", str(run_dir)]) == 0
        assert "per AU (F1 macro / binary)" in capsys.readouterr().out


@pytest.mark.slow
def test_au_repeats_smoke_run_reports_mean_and_std_over_the_repeats(tmp_path, ray_local, capsys):
    """`--search probe --task au --repeats 2 --smoke-test`: two repeats of the probe on the built-in demo; the report
    gives each repeat's mean F1, their mean +- std and the per-AU mean +- std; the console says the same."""
    out = tmp_path / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MER_RAY_CACHE", str(tmp_path / "cache"))
        assert main(["--search", "probe", "--task", "au", "--repeats", "2", "--smoke-test", "--out", str(out)]) == 0
    [run_dir] = [p for p in out.iterdir() if p.is_dir()]
    spec = json.loads((run_dir / "run.json").read_text())
    assert spec["task"] == "au" and spec["repeats"] == 2
    report = (run_dir / "report.md").read_text()
    for line in ("## Repeats: 2 trainings of one configuration with other seeds", "| `c000` | ", "| `c001` | ",
                 "| **mean +- std** | **", "### Per AU over the repeats", "| AU | positives | F1 macro (mean +- std) | "
                 "F1 binary (mean +- std) | folds skipped |", "## First repeat: `c000`", "## AUs skipped per fold"):
        assert line in report
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert sorted(predictions["config_id"].unique()) == ["c000", "c001"]
    assert "2 repeats of one configuration (other seeds): mean macro F1 " in capsys.readouterr().out
