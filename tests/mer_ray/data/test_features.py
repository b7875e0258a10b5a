"""Reading the features back: arrays plus a metadata table; subsets; clear errors."""

import numpy as np
import pytest

from mer_ray.data.features import FeaturesError, load_features
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


def test_loader_returns_the_landmarks_and_frame_sequences(features_dir):
    out, result = features_dir
    data = load_features(out)
    n = len(result.samples)
    assert data.landmarks.shape == (n, 68, 2) and data.landmarks.dtype == np.float32
    assert data.sequence.shape == (n, 8, 64, 64) and data.sequence.dtype == np.uint8  # PreprocessConfig() default
    assert np.all((data.landmarks > 0) & (data.landmarks < data.size))
    one = data.subset(np.array([2]))
    np.testing.assert_array_equal(one.sequence[0], data.sequence[2])
    np.testing.assert_array_equal(one.landmarks[0], data.landmarks[2])


def test_a_folder_without_sequences_loads_without_them(tmp_path):
    from tests.mer_ray._synthetic import synthetic_features, write_features_folder

    plain = synthetic_features(n_subjects=2, clips=3, size=16, landmarks=True)
    data = load_features(write_features_folder(plain, tmp_path / "plain"))
    assert data.sequence is None
    np.testing.assert_array_equal(data.landmarks, plain.landmarks)
    with_sequences = synthetic_features(n_subjects=2, clips=3, size=16, sequence_frames=4, sequence_size=8)
    data = load_features(write_features_folder(with_sequences, tmp_path / "sequences"))
    np.testing.assert_array_equal(data.sequence, with_sequences.sequence)
    np.testing.assert_array_equal(data.flow, with_sequences.flow)
