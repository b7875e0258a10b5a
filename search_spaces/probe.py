"""The linear probe: standardised, masked, pooled (u, v) flow + logistic regression, C chosen on training subjects."""

from search_spaces.space import SearchSpace

SPACE = SearchSpace(
    name="probe",
    description="linear probe: masked (u, v) flow pooled to 16x16, standardised, logistic regression (C inner-chosen)",
    fixed={"method": "linear_probe", "pool": 16, "classifier": "logreg", "c": 0.0},
)
