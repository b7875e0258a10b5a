"""Reading the features back: arrays plus a metadata table; subsets; clear errors."""

import numpy as np
import pytest

from mer_ray.data import FeaturesError, load_features
from preprocessing.features.pipeline import run_pipeline
from preprocessing.features.prepare import select_samples

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def features_dir(small_demo, tmp_path_factory, ray_local):
    result = select_samples([f"demo={small_demo}"], {"demo": {"small": True}}).protocol
    out = tmp_path_factory.mktemp("features")
    run_pipeline(result.samples, out, exclusions=result.exclusions)
    return out, result


def test_loader_returns_aligned_arrays_and_metadata(features_dir):
    out, result = features_dir
    data = load_features(out)
    n = len(result.samples)
    assert len(data) == n
    assert data.flow.shape == (n, 4, data.size, data.size) and data.flow.dtype == np.float32
    assert data.apex_face.shape == (n, data.size, data.size) and data.apex_face.dtype == np.uint8
    assert data.mask.shape == data.apex_face.shape
    assert list(data.meta["sample_id"]) == sorted(s.sample_id for s in result.samples)
    labels = {s.sample_id: s.label for s in result.samples}
    assert list(data.labels) == [labels[i] for i in data.meta["sample_id"]]
    assert data.subjects == sorted({s.subject for s in result.samples})


def test_subject_subset(features_dir):
    out, _ = features_dir
    data = load_features(out, subjects=["demo/sub01"])
    assert set(data.meta["subject"]) == {"demo/sub01"}


def test_unknown_dataset_subset_is_named(features_dir):
    out, _ = features_dir
    with pytest.raises(FeaturesError, match=r"datasets \['casme2'\] not in"):
        load_features(out, datasets=["casme2"])


def test_missing_manifest_says_what_to_run(tmp_path):
    with pytest.raises(FeaturesError, match="python -m preprocessing run"):
        load_features(tmp_path)
