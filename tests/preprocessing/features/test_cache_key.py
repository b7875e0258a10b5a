"""The features cache key tells demos of different presets apart (they share clip names and seeds)."""

from preprocessing.features.prepare import default_features_dir, select_samples
from preprocessing.vision.clip import PreprocessConfig

SIZE = {"n_subjects": 3, "clips_per_subject": 3}


def test_two_presets_of_one_seed_get_two_cache_folders():
    config = PreprocessConfig()
    hard = select_samples(["demo"], {"demo": {"preset": "hard", "seed": 5, **SIZE}})
    realistic = select_samples(["demo"], {"demo": {"preset": "realistic", "seed": 5, **SIZE}})
    assert sorted(s.clip for s in hard.protocol.samples) == sorted(s.clip for s in realistic.protocol.samples)
    assert default_features_dir(hard, config, False) != default_features_dir(realistic, config, False)
    again = select_samples(["demo"], {"demo": {"preset": "hard", "seed": 5, **SIZE}})
    assert default_features_dir(again, config, False) == default_features_dir(hard, config, False)
