"""Per-frame motion features of one video beyond the baseline's sorted magnitudes (the learned spotter's input).

From a :class:`data.MotionSummary` that keeps the residual cell flows ``f_t`` (flow from frame t to t + k, affine
part removed, one (dx, dy) per cell of the aligned face), their removed affine parts and the cells' face regions
(``scores.REGIONS``: other, brows, eyes, nose, mouth, chin), for one flow distance k. ``d_t = f_{t-k} - f_t`` is
the baseline's contrast (motion into t minus motion out of it). Every function returns per-frame values, NaN
where the flows they need are undefined (the first and last k frames):

- :func:`region_magnitudes`: the mean ``|d_t|`` over each region's cells, unsorted, so WHERE the face moves is
  kept (a blink moves the eyes, speech the mouth and chin, a brow raise the brows); the eye region is included.
- :func:`region_directions`: per region the mean vertical component of ``d_t`` (signed: brows up vs down, jaw
  drop), the mean horizontal component pointing away from the face's midline (mouth corners pulled out vs in),
  and the mean divergence of the cell field (expanding vs contracting).
- :func:`symmetry`: ``<d, mirror(d)> / |d|^2`` over the scored cells, in [-1, 1]: 1 for a left-right symmetric
  movement, -1 for an antisymmetric one (a residual roll), ~0 for noise.
- :func:`return_to_neutral`: per cell ``|f_{t-k}| + |f_t| - |f_{t-k} + f_t|`` (= ``2 min(|a|, |b|)`` when the
  motion into t and out of it are opposite, 0 when the face moved one way and stayed): a micro-expression rises
  and falls within ~0.5 s, a macro onset, a head reposition or a drift does not come back; the mean of the
  ``top`` largest scored cells, the share of the motion that returns, and the mean per region.
- :func:`head_motion`: the rigid (head) part the scores remove: the mean magnitude at the cells of the affine
  contrast ``A_{t-k} - A_t`` and of the affine flow ``A_t`` itself, and the top-``top`` cell score of ``d_t`` with
  the head motion kept (raw) against the residual one (removed): what the removal took away.
- :func:`deformation`: where the face IS (not how it moves): the cell positions integrated from the flows
  (``sum_{s<t} f_s / k`` is the mean position over ``[t, t + k - 1]``), minus their running median over ``width``
  frames (the local neutral face). A held macro-expression stays displaced for seconds; its contrast peaks only
  at the onset and offset. Mean per region and the ``top`` largest scored cells.
"""

from __future__ import annotations

import numpy as np

N_REGIONS = 6  # scores.REGIONS


def regions_of(summary, grid: int) -> np.ndarray:
    """The summary's cell regions, or the height bands of an aligned face when it kept none."""
    from mer_ray.spotting.scores import template_regions

    regions = getattr(summary, "regions", None)
    return np.asarray(regions) if regions is not None and regions.shape == (grid, grid) else template_regions(grid)


def scored_mask(summary, grid: int) -> np.ndarray:
    mask = getattr(summary, "cell_mask", None)
    return np.asarray(mask, dtype=bool) if mask is not None and mask.shape == (grid, grid) else np.ones((grid, grid),
                                                                                                         bool)


def contrast(cells: np.ndarray, k: int) -> np.ndarray:
    """(n, g, g, 2) ``d_t = f_{t-k} - f_t`` (float64; NaN for the first and last k frames)."""
    n = cells.shape[0]
    d = np.full(cells.shape, np.nan)
    if n > 2 * k:
        d[k: n - k] = cells[: n - 2 * k].astype(np.float64) - cells[k: n - k]
    return d


def _region_mean(values: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(n, N_REGIONS) mean of ``values`` (n, g, g) over each region's cells (0 for a region with no cell)."""
    out = np.zeros((values.shape[0], N_REGIONS))
    for r in range(N_REGIONS):
        inside = regions == r
        if inside.any():
            out[:, r] = values[:, inside].mean(axis=1)
    return out


def _top_mean(values: np.ndarray, mask: np.ndarray, top: int) -> np.ndarray:
    """(n,) mean of the ``top`` largest of ``values`` (n, g, g) over the ``mask`` cells."""
    v = values[:, mask]
    top = min(top, v.shape[1])
    return -np.sort(-v, axis=1)[:, :top].mean(axis=1)


def region_magnitudes(cells: np.ndarray, k: int, regions: np.ndarray) -> np.ndarray:
    """(n, N_REGIONS) mean ``|d_t|`` per region."""
    return _region_mean(np.linalg.norm(contrast(cells, k), axis=-1), regions)


def region_directions(cells: np.ndarray, k: int, regions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per region (n, N_REGIONS) each: mean vertical ``d_t`` (image down positive), mean horizontal ``d_t`` away from
    the midline, mean divergence (per cell)."""
    d = contrast(cells, k)
    grid = d.shape[2]
    side = np.sign(np.arange(grid) - (grid - 1) / 2)  # -1 left of the midline, +1 right
    outward = d[..., 0] * side[None, None, :]
    divergence = np.gradient(d[..., 0], axis=2) + np.gradient(d[..., 1], axis=1)
    return _region_mean(d[..., 1], regions), _region_mean(outward, regions), _region_mean(divergence, regions)


def symmetry(cells: np.ndarray, k: int, mask: np.ndarray) -> np.ndarray:
    """(n,) left-right symmetry of ``d_t`` over the scored cells (and their mirror cells), in [-1, 1]."""
    d = contrast(cells, k)
    mirror = d[:, :, ::-1].copy()
    mirror[..., 0] *= -1
    both = mask & mask[:, ::-1]
    num = (d * mirror).sum(axis=-1)[:, both].sum(axis=1)
    den = (d ** 2).sum(axis=-1)[:, both].sum(axis=1)
    return num / np.maximum(den, 1e-9)


def return_to_neutral(cells: np.ndarray, k: int, mask: np.ndarray, regions: np.ndarray,
                      top: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top-cell mean (n,), share of the motion that returns (n,), region means (n, N_REGIONS)) of
    ``r = |f_{t-k}| + |f_t| - |f_{t-k} + f_t|`` per cell."""
    n = cells.shape[0]
    r = np.full(cells.shape[:3], np.nan)
    total = np.full(cells.shape[:3], np.nan)
    if n > 2 * k:
        a = cells[: n - 2 * k].astype(np.float64)
        b = cells[k: n - k].astype(np.float64)
        na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
        r[k: n - k] = na + nb - np.linalg.norm(a + b, axis=-1)
        total[k: n - k] = na + nb
    share = r[:, mask].sum(axis=1) / np.maximum(total[:, mask].sum(axis=1), 1e-9)
    return _top_mean(r, mask, top), share, _region_mean(r, regions)


def rigid_field(coef: np.ndarray, grid: int) -> np.ndarray:
    """(n, g, g, 2) the affine flows ``coef`` (n, 3, 2) at the cell centres (normalised coordinates)."""
    centres = (np.arange(grid) + 0.5) / grid
    xs, ys = np.meshgrid(centres, centres)
    coef = coef.astype(np.float64)
    return (coef[:, None, None, 0, :] + xs[None, ..., None] * coef[:, None, None, 1, :]
            + ys[None, ..., None] * coef[:, None, None, 2, :])


def head_motion(cells: np.ndarray, rigid: np.ndarray, k: int, mask: np.ndarray,
                top: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean |affine contrast| at the cells, mean |affine flow A_t| at the cells, top-cell score of ``d_t`` with the
    head motion kept minus the residual one), each (n,)."""
    grid = cells.shape[1]
    field = rigid_field(rigid, grid)  # (n, g, g, 2)
    head_d = contrast(field, k)
    moving = np.linalg.norm(field, axis=-1).mean(axis=(1, 2))
    d = contrast(cells, k)
    raw = _top_mean(np.linalg.norm(d + head_d, axis=-1), mask, top)
    residual = _top_mean(np.linalg.norm(d, axis=-1), mask, top)
    return np.linalg.norm(head_d, axis=-1).mean(axis=(1, 2)), moving, raw - residual


def positions(cells: np.ndarray, k: int) -> np.ndarray:
    """(n, g, g, 2) cell positions up to a constant: ``sum_{s < t'} f_s / k`` with ``t' = t - (k - 1) // 2`` (the
    sum is the mean position over ``[t', t' + k - 1]``, centred on t); undefined flows count as no motion."""
    f = np.nan_to_num(cells.astype(np.float64))
    c = np.concatenate([np.zeros((1,) + f.shape[1:]), np.cumsum(f, axis=0)[:-1]]) / k
    index = np.clip(np.arange(f.shape[0]) - (k - 1) // 2, 0, f.shape[0] - 1)
    return c[index]


def deformation(cells: np.ndarray, k: int, mask: np.ndarray, regions: np.ndarray, width: int,
                top: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(top-cell mean (n,), region means (n, N_REGIONS)) of the cell displacement from the running median position
    over ``width`` frames (the running median is taken on every ``step``-th frame and interpolated: the median over
    seconds moves slowly)."""
    p = positions(cells, k)
    n = p.shape[0]
    step = max(width // 30, 1)
    sample = np.arange(0, n, step)
    from scipy.ndimage import median_filter

    neutral_s = median_filter(p[sample], size=(max(width // step, 1) | 1, 1, 1, 1), mode="nearest")
    flat = neutral_s.reshape(sample.size, -1)
    neutral = np.stack([np.interp(np.arange(n), sample, flat[:, j]) for j in range(flat.shape[1])], axis=1)
    off = np.linalg.norm((p - neutral.reshape(p.shape)), axis=-1)
    valid = np.isfinite(cells).all(axis=(1, 2, 3))
    off[~valid] = np.nan
    return _top_mean(off, mask, top), _region_mean(off, regions)
