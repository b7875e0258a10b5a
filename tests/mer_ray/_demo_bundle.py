"""The small demo's features and a bundle fitted on them, built once per test session (shared by test modules).

Both live under the session's pytest base folder, so every module that asks gets the same folders; building them
needs the session's Ray cluster (the real Ray Data pipeline makes the features).
"""

from __future__ import annotations

from pathlib import Path

BUNDLE_SETTINGS = ("--set", "epochs=3")  # the 5-network ensemble recipe, 3 epochs: seconds on a CPU
PORTFOLIO_SETTINGS = ("--set", "epochs=1")  # the recommended portfolio, its networks 1 epoch each


def demo_features(base: Path, demo_root: Path) -> Path:
    """Features of the small demo (9 clips, 3 subjects) made by the Ray Data pipeline; Ray must be running."""
    from preprocessing.features.prepare import build_features, select_samples

    out = base / "issue14-demo-features"
    if not (out / "manifest.json").is_file():
        selection = select_samples([f"demo={demo_root}"], {"demo": {"small": True}})
        build_features(selection, out)
    return out


def demo_bundle(base: Path, demo_root: Path) -> Path:
    """A network bundle (the ``ensemble`` space: 5 small ShuffleNetV2s) fitted on :func:`demo_features` with
    ``python -m mer_ray.fit``."""
    return _fitted(base, demo_root, "issue14-demo-bundle", "ensemble", BUNDLE_SETTINGS)


def demo_portfolio_bundle(base: Path, demo_root: Path) -> Path:
    """A portfolio bundle (the ``recommended`` space: the probe and cross-fitted ShuffleNetV2s) fitted on
    :func:`demo_features` with ``python -m mer_ray.fit``."""
    return _fitted(base, demo_root, "demo-portfolio-bundle", "recommended", PORTFOLIO_SETTINGS)


def _fitted(base: Path, demo_root: Path, name: str, space: str, settings: tuple[str, ...]) -> Path:
    from mer_ray.fit import main

    bundle = base / name
    if not (bundle / "bundle.json").is_file():
        features = demo_features(base, demo_root)
        code = main(["--search", space, "--features", str(features), *settings, "--out", str(bundle)])
        assert code == 0, f"mer_ray.fit exited {code}"
    return bundle


def clip_folder(demo_root: Path, sample_id: str) -> Path:
    """The frame folder of a demo clip ``demo/subNN/CLIP``."""
    from preprocessing.demo import FRAMES_DIR

    _, subject, clip = sample_id.split("/")
    return demo_root / FRAMES_DIR / subject / clip


def first_clip(demo_root: Path, subject: str) -> Path:
    """The first clip folder (natural order) of demo subject ``subNN``."""
    from preprocessing.demo import FRAMES_DIR

    return sorted(p for p in (demo_root / FRAMES_DIR / subject).iterdir() if p.is_dir())[0]
