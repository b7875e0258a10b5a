"""LBP-TOP baseline: uniform LBP (P=8, R=1) on XY / XT / YT of the aligned frame sequence, 5x5 blocks, linear SVM."""

from search_spaces.space import SearchSpace

SPACE = SearchSpace(
    name="lbptop",
    description="LBP-TOP: 59 uniform patterns on XY/XT/YT of the frame sequence per 5x5 blocks, standardised, "
                "linear SVM",
    fixed={"method": "lbptop", "grid": 5, "points": 8, "radius": 1, "classifier": "linear_svm", "c": 0.0},
)
