"""HOOF baseline: magnitude-weighted flow orientation histograms per block, standardised, linear SVM."""

from search_spaces.space import SearchSpace

SPACE = SearchSpace(
    name="hoof",
    description="HOOF: masked onset->apex flow, 8 orientation bins per 8x8 blocks, standardised, linear SVM (C inner)",
    fixed={"method": "hoof", "grid": 8, "bins": 8, "classifier": "linear_svm", "c": 0.0},
)
