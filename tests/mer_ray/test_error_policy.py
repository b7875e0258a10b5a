"""One error policy for every CLI: a user error is ONE line on stderr, ``error: <message>``, exit status 2, no
traceback, and it is caught before Ray starts (these tests make starting Ray fail)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mer_ray.infra.errors import UsageError, as_usage_error, error_line, run_cli
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """Starting Ray fails the test: every error here must come before it."""
    import ray

    from mer_ray.infra import runtime

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started before the user error was found")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(runtime, "init_ray", refuse)


def one_error_line(capsys, code: int) -> str:
    """The single stderr line of a user error (exit 2, ``error:``, no traceback)."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _csv(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset", "subject", "sample", "y_true", "y_pred"])
        writer.writerows(rows)
    return path


# ---- the helper -------------------------------------------------------------------------------------------


def test_run_cli_maps_usage_and_named_errors_and_nothing_else(capsys):
    def fail(err):
        def command():
            raise err
        return command

    assert run_cli(fail(UsageError("bad --x"))) == 2
    assert capsys.readouterr().err == "error: bad --x\n"
    assert run_cli(fail(KeyError("k")), user_errors=(KeyError,)) == 2
    assert capsys.readouterr().err == "error: 'k'\n"
    with pytest.raises(KeyError):  # not a user error: keeps its traceback
        run_cli(fail(KeyError("k")))
    assert run_cli(lambda: 0) == 0


def test_an_error_line_is_one_line():
    assert error_line(UsageError("first\n  second\n")) == "error: first second"
    assert error_line(UsageError()) == "error: UsageError"


def test_as_usage_error_converts_only_the_named_types():
    with pytest.raises(UsageError, match="^bad value$") as caught, as_usage_error(ValueError):
        raise ValueError("bad value")
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(KeyError), as_usage_error(ValueError):
        raise KeyError("other")


# ---- every CLI --------------------------------------------------------------------------------------------


def test_loso_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    from mer_ray.loso import main

    line = one_error_line(capsys, main(["--search", "vit", "--resume", str(tmp_path)]))
    assert line == f"error: --resume {tmp_path}: {tmp_path / 'run.json'} not found (not a run folder)"


def test_loso_resume_with_another_space(tmp_path, capsys):
    from mer_ray.loso import main
    from mer_ray.search.spec import RunSpec

    RunSpec(space="vit", features=str(tmp_path / "features")).to_json(tmp_path / "run.json")
    line = one_error_line(capsys, main(["--search", "cbam", "--resume", str(tmp_path)]))
    assert line == f"error: --resume {tmp_path} is a 'vit' run; got --search cbam"


def test_loso_bad_set_value(capsys):
    from mer_ray.loso import main

    assert "input_sise" in one_error_line(capsys, main(["--search", "recommended", "--set", "input_sise=64"]))


def test_fit_with_a_missing_run(tmp_path, capsys):
    from mer_ray.fit import main

    line = one_error_line(capsys, main(["--from-run", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b")]))
    assert "run.json not found (not a mer_ray.loso run folder)" in line


def test_predict_with_a_missing_model(tmp_path, capsys):
    from mer_ray.predict import main

    line = one_error_line(capsys, main(["--model", str(tmp_path / "nowhere"), str(tmp_path)]))
    assert f"model bundle {tmp_path / 'nowhere'} does not exist" in line


def test_predict_without_inputs(tmp_path, capsys):
    from mer_ray.predict import main

    line = one_error_line(capsys, main(["--model", str(tmp_path)]))
    assert line == "error: nothing to predict: give INPUT paths or --onset IMG --apex IMG"


def test_score_of_a_bad_csv(tmp_path, capsys):
    from mer_ray.score import main

    path = _csv(tmp_path / "bad.csv", [["casme2", "sub01", "a", 0, 1], ["casme2", "sub01", "b", 3, 1]])
    assert "row 3: y_true='3' is not a label" in one_error_line(capsys, main([str(path)]))


def test_compare_of_differing_clip_sets(tmp_path, capsys):
    from mer_ray.compare import main

    a = _csv(tmp_path / "a.csv", [["casme2", "sub01", "x", 0, 0], ["casme2", "sub02", "y", 1, 1]])
    b = _csv(tmp_path / "b.csv", [["casme2", "sub01", "x", 0, 0], ["casme2", "sub02", "z", 1, 1]])
    line = one_error_line(capsys, main([str(a), str(b)]))
    assert line == "error: the two prediction sets cover different clips: 1 only in a.csv (y), 1 only in b.csv (z)"


@pytest.mark.parametrize("argv,message", [
    (["run", "--dataset", "casme9={tmp}", "--out", "{tmp}"], "unknown dataset 'casme9'"),
    (["samples", "--dataset", "casme2={tmp}/nope"], "does not exist"),
    (["flow", "--out", "{tmp}", "--onset", "a.png"], "--onset IMG and --apex IMG go together"),
])
def test_preprocessing_user_errors(tmp_path, capsys, argv, message):
    from preprocessing.cli import main

    assert message in one_error_line(capsys, main([a.format(tmp=tmp_path) for a in argv]))


def test_the_exit_status_reaches_the_shell(tmp_path):
    """Through ``python -m``: status 2 (it was 1 for this error before the policy), one line, no traceback."""
    env = {**os.environ, "MER_RAY_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "mer_ray.loso", "--search", "vit", "--resume", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: --resume {tmp_path}: {tmp_path / 'run.json'} not found (not a run "
                                        "folder)"]
