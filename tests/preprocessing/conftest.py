"""Fixtures for the preprocessing tests: placeholder dataset trees laid out from the real sheets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.preprocessing import trees


@pytest.fixture(scope="session")
def official(reference_dir: Path) -> list[tuple[str, str, str, int]]:
    """The official MEGC2019 composite list: (dataset, subject, clip, label) rows."""
    return trees.official_list(reference_dir)


@pytest.fixture(scope="session")
def megc_tree(tmp_path_factory, reference_dir: Path, official) -> dict[str, Path]:
    """CASME II, SAMM and SMIC-HS roots with placeholder frames for every sheet row / official SMIC clip.

    Built once per session (about 2,500 tiny files); tests must not modify it.
    """
    root = tmp_path_factory.mktemp("megc")
    return {
        "casme2": trees.casme2_from_sheet(root / "CASME2", reference_dir / "CASME2-coding-20140508.xlsx"),
        "samm": trees.samm_from_sheet(root / "SAMM", reference_dir / "SAMM_Micro_FACS_Codes_v2.xlsx"),
        "smic": trees.smic_from_list(root / "SMIC", [clip for dataset, _, clip, _ in official if dataset == "smic"]),
    }
