"""The task of a run (``--task au``) in RunSpec and run.json, and the AU predictions in a run folder."""

import json

from mer_ray.loso import build_parser
from mer_ray.search.spec import RunSpec
from search_spaces import get_space
from tests.mer_ray._synthetic import synthetic_features


def test_the_au_task_its_vocabulary_and_objective_are_recorded_in_run_json(tmp_path):
    features = synthetic_features(n_subjects=3, clips=3)  # codes "12", "1+2", "R4+7"
    args = build_parser().parse_args(["--search", "recommended", "--task", "au", "--au-min-positives", "2"])
    spec = RunSpec.from_args(args, get_space("recommended"), features)
    assert (spec.task, spec.aus, spec.objective, spec.au_min_positives) == ("au", [1, 2, 4, 7, 12], "f1_macro", 2)
    assert spec.au_task().names == ["AU1", "AU2", "AU4", "AU7", "AU12"]
    spec.to_json(tmp_path / "run.json")
    assert RunSpec.from_json(tmp_path / "run.json") == spec
    recorded = json.loads((tmp_path / "run.json").read_text())
    assert recorded["task"] == "au" and recorded["aus"] == [1, 2, 4, 7, 12]
    chosen = build_parser().parse_args(["--search", "probe", "--task", "au", "--aus", "12,4", "--objective",
                                        "f1_binary", "--smoke-test"])
    spec = RunSpec.from_args(chosen, get_space("probe"), features)
    assert (spec.aus, spec.objective, spec.au_min_positives) == ([4, 12], "f1_binary", 1)  # smoke test: k = 1


def test_an_emotion_run_and_an_old_run_json_are_emotion_runs(tmp_path):
    features = synthetic_features(n_subjects=2, clips=2)
    spec = RunSpec.from_args(build_parser().parse_args(["--search", "vit"]), get_space("vit"), features)
    assert (spec.task, spec.aus, spec.objective, spec.au_task()) == ("emotion", None, "uar", None)
    spec.to_json(tmp_path / "run.json")
    info = json.loads((tmp_path / "run.json").read_text())
    for key in ("task", "aus", "au_min_positives", "dropped_clips"):  # written by a version without the AU task
        del info[key]
    (tmp_path / "run.json").write_text(json.dumps(info))
    assert RunSpec.from_json(tmp_path / "run.json").task == "emotion"
