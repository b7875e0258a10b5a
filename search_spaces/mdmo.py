"""MDMO baseline (Liu et al. 2016): main-direction mean flow of 36 landmark ROIs, standardised, linear SVM."""

from search_spaces.space import SearchSpace

SPACE = SearchSpace(
    name="mdmo",
    description="MDMO: main-direction mean onset->apex flow of 36 landmark ROIs (72 numbers), standardised, linear SVM",
    fixed={"method": "mdmo", "bins": 8, "roi_size": 0.25, "classifier": "linear_svm", "c": 0.0},
)
