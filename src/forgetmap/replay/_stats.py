"""The statistics of the replay experiment: paired tests, effect sizes and bootstrap intervals.

Two samplers ``a`` and ``b`` are always compared on the same units — the same held-out examples,
or the same task × seed runs — so every test is paired, on the differences ``d = x_a - x_b``
(negative: ``a`` forgets less than ``b``):

- across held-out examples: the Wilcoxon signed-rank test, effect size the matched-pairs
  rank-biserial correlation ``(R+ - R-) / (R+ + R-)``;
- across task × seed runs: the paired t-test, effect size Cohen's ``d_z = mean(d) / sd(d)``.

Each comes with a percentile bootstrap interval of ``mean(d)`` (seeded), and with the minimum
detectable effect: the smallest ``|mean(d)|`` the test would find at 80% power given the spread
of ``d``, so that "no difference" can be told from "too few units to see one".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "bootstrap_ci",
    "cohens_dz",
    "holm",
    "minimum_detectable_effect",
    "paired_ttest",
    "rank_biserial",
    "reduction_ci",
    "wilcoxon_paired",
]

NAN = float("nan")


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of the rows of ``values``.

    Parameters
    ----------
    values : ndarray of shape (n,) or (n, d)
        Units resampled with replacement (rows stay together, so pairs stay paired).
    statistic : callable, optional
        Maps resampled data of shape (n_resamples, n[, d]) to (n_resamples,); default: the mean.
    n_resamples, confidence, seed
        Number of resamples, coverage of the interval, and the seed of the resampling.

    Returns
    -------
    (low, high) : floats; NaN when there are no units.
    """
    data = np.asarray(values, dtype=np.float64)
    n = data.shape[0]
    if n == 0:
        return NAN, NAN
    if statistic is None:

        def statistic(sample: np.ndarray) -> np.ndarray:
            return sample.mean(axis=1)

    rng = np.random.default_rng(seed)
    stats = np.empty(n_resamples)
    batch = max(1, 2_000_000 // max(1, data[0].size * n))
    for start in range(0, n_resamples, batch):
        stop = min(n_resamples, start + batch)
        idx = rng.integers(0, n, size=(stop - start, n))  # (B, n)
        stats[start:stop] = statistic(data[idx])
    alpha = (1 - confidence) / 2
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return NAN, NAN
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return float(low), float(high)


def rank_biserial(differences: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation of paired differences, in [-1, 1].

    ``(R+ - R-) / (R+ + R-)`` with ``R±`` the sums of the ranks of ``|d|`` over the positive and
    negative differences; zero differences are dropped (as in Wilcoxon's test). NaN if all are
    zero.
    """
    from scipy.stats import rankdata

    d = np.asarray(differences, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return NAN
    ranks = rankdata(np.abs(d))
    positive = ranks[d > 0].sum()
    negative = ranks[d < 0].sum()
    return float((positive - negative) / (positive + negative))


def cohens_dz(differences: np.ndarray) -> float:
    """Cohen's d_z of paired differences: mean / standard deviation (ddof=1); NaN if undefined."""
    d = np.asarray(differences, dtype=np.float64)
    if d.size < 2:
        return NAN
    sd = d.std(ddof=1)
    if sd == 0:
        return NAN if d.mean() == 0 else math.copysign(math.inf, d.mean())
    return float(d.mean() / sd)


def wilcoxon_paired(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Two-sided Wilcoxon signed-rank test of ``x - y`` (paired), with effect size and CI.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        Paired measurements (e.g. each held-out example's forgetting under two samplers).

    Returns
    -------
    dict with ``statistic`` (scipy's: the smaller of R+ and R-), ``p_value``, ``effect_size``
    (rank-biserial), ``mean_difference``, ``ci_low``/``ci_high`` (bootstrap of the mean
    difference), ``mde_80`` (:func:`minimum_detectable_effect`) and ``n``.
    """
    from scipy.stats import wilcoxon

    d = _differences(x, y)
    result = _base(d, n_resamples, confidence, seed)
    result["effect_size"] = rank_biserial(d)
    if d.size == 0 or not np.any(d != 0):
        # No non-zero difference: nothing to test; the samplers are indistinguishable here.
        result["statistic"] = 0.0 if d.size else NAN
        result["p_value"] = 1.0 if d.size else NAN
        return result
    result["mde_80"] = minimum_detectable_effect(d, rank_test=True)
    test = wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    result["statistic"] = float(test.statistic)
    result["p_value"] = float(test.pvalue)
    return result


def paired_ttest(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Two-sided paired t-test of ``x - y``, with Cohen's d_z and a bootstrap CI of the mean.

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        Paired measurements (e.g. each task × seed run's mean held-out forgetting).
    """
    from scipy.stats import ttest_rel

    d = _differences(x, y)
    result = _base(d, n_resamples, confidence, seed)
    result["effect_size"] = cohens_dz(d)
    result["mde_80"] = minimum_detectable_effect(d)
    if d.size < 2 or not np.any(d != 0):
        # Too few runs to test, or no difference at all.
        result["statistic"] = NAN
        result["p_value"] = NAN if d.size < 2 else 1.0
        return result
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # Identical non-zero differences give t = ±inf (p = 0); scipy warns about precision.
        warnings.simplefilter("ignore", RuntimeWarning)
        test = ttest_rel(d, np.zeros_like(d))
    result["statistic"] = float(test.statistic)
    result["p_value"] = float(test.pvalue)
    return result


def minimum_detectable_effect(
    differences: np.ndarray,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    rank_test: bool = False,
) -> float:
    """Smallest ``|mean(d)|`` a two-sided paired test at level ``alpha`` finds with ``power``.

    For the paired t-test this is exact under normal differences: the non-centrality ``λ`` at
    which the non-central t with ``n - 1`` degrees of freedom exceeds the critical value with
    probability ``power``, times ``sd(d) / sqrt(n)``. The signed-rank test is sized by its
    asymptotic relative efficiency against the t-test under normality, ``3 / π`` (it needs
    ``π / 3`` times the units for the same power), which is how sample sizes for it are planned.

    Parameters
    ----------
    differences : ndarray of shape (n,)
        Paired differences; non-finite ones are dropped.
    rank_test : bool
        Size the Wilcoxon signed-rank test instead of the t-test.

    Returns
    -------
    float, in the units of ``d``; NaN with fewer than 2 differences or none that vary.
    """
    from scipy.optimize import brentq
    from scipy.stats import nct
    from scipy.stats import t as student_t

    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = d.size
    sd = float(d.std(ddof=1)) if n > 1 else NAN
    if n < 2 or not sd > 0:
        return NAN
    n_effective = n * 3 / math.pi if rank_test else float(n)
    dof = max(n_effective - 1, 1.0)
    critical = float(student_t.ppf(1 - alpha / 2, dof))

    def shortfall(noncentrality: float) -> float:
        # The far tail (rejecting with the wrong sign) is tiny; scipy gives NaN for it at large λ.
        wrong_sign = np.nan_to_num(nct.cdf(-critical, dof, noncentrality), nan=0.0)
        return float(nct.sf(critical, dof, noncentrality) + wrong_sign) - power

    noncentrality = brentq(shortfall, 0.0, critical + 10.0)
    return float(noncentrality * sd / math.sqrt(n_effective))


def reduction_ci(
    reference: np.ndarray,
    treated: np.ndarray,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """How much less is forgotten under a treatment than under the reference, paired by unit.

    Parameters
    ----------
    reference, treated : ndarray of shape (n_units,)
        Mean forgetting of each unit (task × seed run) under the reference sampler (random
        replay) and the treated one.

    Returns
    -------
    dict with ``reduction = mean(reference) - mean(treated)`` (positive: less forgetting),
    ``relative = reduction / |mean(reference)|``, and bootstrap intervals of both (units
    resampled together).
    """
    pairs = np.column_stack(
        [np.asarray(reference, dtype=np.float64), np.asarray(treated, dtype=np.float64)]
    )
    if pairs.shape[0] == 0:
        return {k: NAN for k in ("reduction", "relative", "ci_low", "ci_high")} | {
            "relative_ci_low": NAN,
            "relative_ci_high": NAN,
        }
    reduction = float(pairs[:, 0].mean() - pairs[:, 1].mean())
    base = float(pairs[:, 0].mean())
    relative = reduction / abs(base) if base != 0 else NAN

    def absolute(sample: np.ndarray) -> np.ndarray:  # (B, n, 2) -> (B,)
        return sample[..., 0].mean(axis=1) - sample[..., 1].mean(axis=1)

    def ratio(sample: np.ndarray) -> np.ndarray:
        ref = sample[..., 0].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (ref - sample[..., 1].mean(axis=1)) / np.abs(ref)

    low, high = bootstrap_ci(
        pairs, absolute, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    rel_low, rel_high = bootstrap_ci(
        pairs, ratio, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    return {
        "reduction": reduction,
        "relative": relative,
        "ci_low": low,
        "ci_high": high,
        "relative_ci_low": rel_low,
        "relative_ci_high": rel_high,
    }


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return [float(v) for v in adjusted]


def _differences(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples need equal 1-D shapes, got {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep] - y[keep]


def _base(d: np.ndarray, n_resamples: int, confidence: float, seed: int) -> dict[str, float]:
    low, high = bootstrap_ci(d, n_resamples=n_resamples, confidence=confidence, seed=seed)
    return {
        "n": int(d.size),
        "mean_difference": float(d.mean()) if d.size else NAN,
        "ci_low": low,
        "ci_high": high,
    }
