"""AU codes as the real sheets write them, and the multi-hot targets of the auxiliary AU loss."""

import numpy as np
import pytest

from mer_ray.data.action_units import au_targets, parse_action_units


@pytest.mark.parametrize("cell, expected", [
    ("1+2", {1, 2}), ("R14", {14}), ("L14+17", {14, 17}), ("4+L9+14", {4, 9, 14}), (12, {12}),  # CASME II
    ("AU12+AU25", {12, 25}), ("A1B+A2C", {1, 2}), ("12A+ref(24)", {12}), ("4+13+T18+39", {4, 13, 18, 39}),  # SAMM
    ("A/L12", {12}), ("10A/B", {10}), ("12+15 ", {12, 15}),
    ("?", set()), ("", set()), (None, set()), (float("nan"), set()), ("none", set()),
])
def test_sheet_cells_parse_to_au_numbers(cell, expected):
    assert parse_action_units(cell) == expected


def test_targets_keep_aus_coded_often_enough_and_flag_uncoded_clips():
    vocabulary, targets, coded = au_targets(["1+2", "1+4", "R4", "", "?", "12"], min_count=2)
    assert vocabulary == [1, 4]  # AU2 and AU12 appear once
    np.testing.assert_array_equal(targets, [[1, 0], [1, 1], [0, 1], [0, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(coded, [True, True, True, False, False, True])
    assert au_targets(["", None], min_count=1)[0] == []
