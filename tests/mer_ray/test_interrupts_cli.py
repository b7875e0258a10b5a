"""SIGINT / SIGTERM, concurrent runs and --resume checks of the CLIs, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "MER_RAY_CACHE": str(cache), "PYTHONUNBUFFERED": "1", "RAY_AUTH_MODE": "disabled",
            "OMP_NUM_THREADS": "1"}


def _interrupt(argv: list[str], env: dict, after: str, sig: int, *, group: bool) -> tuple[int, str, str]:
    """Run ``python -m ...argv``, send ``sig`` once a stdout line starts with ``after``; (rc, stdout, stderr).

    ``group``: signal the whole process group, as a terminal's Ctrl-C does; else the CLI process only (``kill``).
    """
    proc = subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO, start_new_session=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(after):
            (os.killpg if group else os.kill)(proc.pid, sig)
            break
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail(_stuck(proc, argv, env, f"300 s after {signal.Signals(sig).name}"))
    return proc.returncode, "".join(lines) + out, err


def _stuck(proc: subprocess.Popen, argv: list[str], env: dict, when: str) -> str:
    """Kill a CLI that did not exit; return what explains it: every thread's stack (``kill -USR1`` writes them to
    the quiet console's log), the log tails and the CLI's stderr."""
    proc.send_signal(signal.SIGUSR1)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    logs = sorted(Path(env["MER_RAY_CACHE"]).glob("logs/*.log"))
    logs += [Path(a) / "logs" / "driver.log" for a in argv if Path(a, "logs", "driver.log").is_file()]
    logs += [p for p in sorted(Path(a) for a in argv if Path(a).is_dir()) for p in p.glob("*/logs/driver.log")]
    tails = "".join(f"\n--- {log} (end) ---\n{log.read_text(errors='replace')[-6000:]}" for log in logs)
    return f"{' '.join(argv)} still running {when}; its stderr:\n{err[-3000:]}{tails}"


def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=600)


@pytest.mark.slow
def test_preprocessing_interrupted_then_rerun_completes(tmp_path):
    env = _env(tmp_path / "cache")
    out = tmp_path / "features"
    rc, stdout, stderr = _interrupt(["preprocessing", "run", "--smoke-test", "--out", str(out)], env,
                                    "preprocessing ", signal.SIGINT, group=True)
    assert rc == 130, stderr
    assert "Traceback" not in stderr + stdout
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted (SIGINT): ") and last.endswith(
        f"continue with: python -m preprocessing run --smoke-test --out {out} (only the missing clips are computed)")
    assert not (out / "manifest.json").exists()
    again = _run(["preprocessing", "run", "--smoke-test", "--out", str(out)], env)
    assert again.returncode == 0 and (out / "manifest.json").is_file()


@pytest.mark.slow
def test_loso_interrupted_by_sigint_and_sigterm_resumes_to_the_uninterrupted_metrics(tmp_path):
    """Ctrl-C (SIGINT to the process group) after the first fold, SIGTERM (the CLI only) after the second, two
    resumes: the pooled leaderboard and every prediction equal those of an uninterrupted run."""
    env = _env(tmp_path / "cache")
    features = tmp_path / "features"
    assert _run(["preprocessing", "run", "--smoke-test", "--out", str(features)], env).returncode == 0
    argv = ["mer_ray.loso", "--search", "vit", "--smoke-test", "--features", str(features), "--seed", "3"]
    base = _run([*argv, "--out", str(tmp_path / "base")], env)
    assert base.returncode == 0, base.stderr

    rc, stdout, stderr = _interrupt([*argv, "--out", str(tmp_path / "runs")], env, "[folds 1/", signal.SIGINT,
                                    group=True)
    [run] = list((tmp_path / "runs").iterdir())
    resume = f"python -m mer_ray.loso --search vit --resume {run}"
    assert rc == 130, stderr
    assert "Traceback" not in stdout + stderr and "core_worker" not in stderr
    assert stderr.strip().splitlines()[-1].endswith(f"finished folds kept in {run}; continue with: {resume}")
    assert len(list(run.glob("folds/*/*.parquet"))) >= 1

    rc, stdout, stderr = _interrupt(resume.split()[2:], env, "[folds ", signal.SIGTERM, group=False)
    assert rc == 143, stderr
    assert "Traceback" not in stdout + stderr
    assert stderr.strip().splitlines()[-1].startswith("interrupted (SIGTERM): ")

    final = _run(resume.split()[2:], env)
    assert final.returncode == 0, final.stderr
    [base_run] = list((tmp_path / "base").iterdir())
    columns = ["config_id", "uar", "uf1", "accuracy"]
    pd.testing.assert_frame_equal(pd.read_csv(run / "leaderboard.csv")[columns],
                                  pd.read_csv(base_run / "leaderboard.csv")[columns])
    key = ["config_id", "sample"]
    ours = pd.read_parquet(run / "predictions.parquet").sort_values(key).reset_index(drop=True)
    theirs = pd.read_parquet(base_run / "predictions.parquet").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours[[*key, "y_true", "y_pred"]], theirs[[*key, "y_true", "y_pred"]])
    assert ours["scores"].map(list).tolist() == theirs["scores"].map(list).tolist()


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path):
    """Two real processes ask for the same run folder name at once: each gets its own, none is shared."""
    code = ("import sys, time; from pathlib import Path; from mer_ray.search.run_folder import new_run_folder; "
            "time.sleep(max(0, float(sys.argv[1]) - time.time())); "
            "print(new_run_folder(Path(sys.argv[2]), '20260101-000000-vit').root)")
    start = str(time.time() + 3)
    procs = [subprocess.Popen([sys.executable, "-c", code, start, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO) for _ in range(2)]
    roots = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert roots == [str(tmp_path / "20260101-000000-vit"), str(tmp_path / "20260101-000000-vit-2")]


@pytest.mark.ray
def test_resume_of_a_run_another_process_is_running_is_refused(tmp_path, ray_local, capsys):
    from mer_ray.loso import main
    from mer_ray.search.spec import RunSpec
    from tests.mer_ray._synthetic import synthetic_features, write_features_folder

    folder = write_features_folder(synthetic_features(n_subjects=3, clips=3, size=16), tmp_path / "features")
    run = tmp_path / "run"
    run.mkdir()
    RunSpec(space="probe", features=str(folder), features_content_hash=None).to_json(run / "run.json")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from filelock import FileLock; "
                               f"lock = FileLock({str(run / '.lock')!r}); lock.acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["--search", "probe", "--resume", str(run)]) == 2
    finally:
        holder.kill()
        holder.wait()
    assert f"error: another process is running {run}" in capsys.readouterr().err


@pytest.mark.ray
def test_resume_refuses_features_whose_content_changed(tmp_path, ray_local, capsys):
    from mer_ray.loso import main
    from mer_ray.search.spec import RunSpec
    from tests.mer_ray._synthetic import synthetic_features, write_features_folder

    folder = write_features_folder(synthetic_features(n_subjects=3, clips=3, size=16), tmp_path / "features")
    run = tmp_path / "run"
    run.mkdir()
    RunSpec(space="probe", features=str(folder), features_content_hash="0" * 64).to_json(run / "run.json")
    assert main(["--search", "probe", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"error: --resume {run}: the features folder {folder} changed since the run started (content hash " \
           "000000000000 then, " in err
    assert "Start a new run without --resume" in err and not (run / "folds").exists()
