from __future__ import annotations

from pathlib import Path

import pytest

from preprocessing.annotations.datasets import (
    list_datasets,
    parse_dataset_options,
    parse_dataset_specs,
    scan_dataset,
    scan_datasets,
)


def test_registry_names():
    assert list_datasets() == ["casme2", "samm", "smic", "mmew", "demo", "casme", "casme3", "casme3c", "fourdme",
                               "demo-casme2", "demo-samm", "demo-casme3"]
    with pytest.raises(ValueError, match="unknown dataset 'casme1'; valid datasets: casme2, samm, smic, mmew, demo, "
                                         "casme, casme3, casme3c, fourdme"):
        scan_dataset("casme1", Path("."))
    with pytest.raises(ValueError, match="unknown option\\(s\\) frames for dataset 'smic'; valid options: frames_dir"):
        scan_dataset("smic", Path("."), frames="HS")


def test_parse_dataset_specs(tmp_path):
    assert parse_dataset_specs([f"casme2={tmp_path}", f"smic= {tmp_path} "]) == [("casme2", tmp_path),
                                                                                 ("smic", tmp_path)]
    with pytest.raises(ValueError, match="--dataset 'casme1=/x': unknown dataset 'casme1'; valid datasets: casme2"):
        parse_dataset_specs(["casme1=/x"])
    with pytest.raises(ValueError, match="--dataset 'samm': expected NAME=DIR, e.g. samm=/data/samm"):
        parse_dataset_specs(["samm"])
    with pytest.raises(ValueError, match="--dataset 'samm=.*absent': folder .*absent does not exist"):
        parse_dataset_specs([f"samm={tmp_path / 'absent'}"])
    with pytest.raises(ValueError, match="dataset 'samm' given twice"):
        parse_dataset_specs([f"samm={tmp_path}", f"samm={tmp_path}"])


def test_parse_dataset_options():
    assert parse_dataset_options(["casme2.frames_dir=Cropped", "casme2.sheet=/x.xlsx"]) == {
        "casme2": {"frames_dir": "Cropped", "sheet": "/x.xlsx"}}
    with pytest.raises(ValueError, match="expected NAME.KEY=VALUE"):
        parse_dataset_options(["frames_dir=Cropped"])
    with pytest.raises(ValueError, match="dataset 'smic' has no option 'sheet'; valid options: frames_dir"):
        parse_dataset_options(["smic.sheet=x"])
    with pytest.raises(ValueError, match="--dataset-option given for samm, which has no --dataset"):
        scan_datasets([], {"samm": {"frames_dir": "x"}})


def test_no_torch_or_mer_ray_imported():
    import subprocess
    import sys

    modules = ["preprocessing.annotations.datasets.casme2", "preprocessing.annotations.datasets.samm",
               "preprocessing.annotations.datasets.smic", "preprocessing.annotations.datasets.mmew",
               "preprocessing.annotations.protocols", "preprocessing.commands.samples"]
    # the shared infrastructure (mer_ray.infra: validation, atomic writes, ...) is the one part of mer_ray allowed
    code = (f"import sys, {', '.join(modules)}; "
            "print(sorted({m for m in sys.modules if m.split('.')[0] == 'torch' or "
            "(m.startswith('mer_ray.') and not m.startswith('mer_ray.infra'))}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_option_values_take_the_type_of_the_default():
    pytest.importorskip("preprocessing.annotations.datasets.demo")  # the only adapter with a non-path option (its seed)
    assert parse_dataset_options(["demo.seed=3"]) == {"demo": {"seed": 3}}
    with pytest.raises(ValueError, match="--dataset-option 'demo.seed=x': expected a int value"):
        parse_dataset_options(["demo.seed=x"])
