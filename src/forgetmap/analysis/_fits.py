"""How much of the forgetting matrix simple models explain: R² of row, column, additive, rank-k.

Every R² is ``1 - SSE / SST`` over the *measured* entries, with SST taken around the grand mean
of those entries. Missing entries (NaN) never count and are never filled with zeros: the additive
fit is solved exactly by least squares over the measured entries, and rank-k fits use masked
alternating least squares (:func:`masked_als`).

Matrices are read in blocks of columns converted to float64, so a 100 × 1,000,000 float32 matrix
needs no float64 copy of itself. The singular values of a complete matrix come from the Gram
matrix of its short side when that side is small (exact, one pass), else from a randomized SVD.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from forgetmap.errors import AnalysisError

__all__ = [
    "FitReport",
    "LowRankFit",
    "additive_fit",
    "fit_report",
    "low_rank_fit",
]

#: Columns per block when streaming over the matrix (a 100-row float64 block is ~50 MB).
CHUNK = 1 << 16
#: Largest short side for which the exact Gram-matrix spectrum is used.
GRAM_LIMIT = 2048


class ConvergenceWarning(UserWarning):
    """A masked fit stopped at its iteration limit before its error settled."""


# ---------------------------------------------------------------------- streaming helpers
def column_blocks(n: int, size: int = CHUNK) -> Iterator[slice]:
    """Consecutive column slices covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _block(values: np.ndarray, cols: slice) -> tuple[np.ndarray, np.ndarray | None]:
    """A float64 column block and its measured mask (None when the block has no NaN)."""
    block = np.asarray(values[:, cols], dtype=np.float64)
    finite = np.isfinite(block)
    if finite.all():
        return block, None
    return np.where(finite, block, 0.0), finite


@dataclass
class Moments:
    """Sums over the measured entries, per task (rows) and per example (columns)."""

    row_sum: np.ndarray  # (M,)
    row_n: np.ndarray  # (M,)
    col_sum: np.ndarray  # (N,)
    col_n: np.ndarray  # (N,)
    complete: bool

    @property
    def n(self) -> float:
        return float(self.row_n.sum())

    @property
    def mean(self) -> float:
        return float(self.row_sum.sum() / self.n)

    @property
    def row_mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.row_sum / self.row_n

    @property
    def col_mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.col_sum / self.col_n


def moments(values: np.ndarray) -> Moments:
    """Per-task and per-example sums and counts of the measured entries, in one pass."""
    m, n = values.shape
    row_sum, row_n = np.zeros(m), np.zeros(m)
    col_sum, col_n = np.zeros(n), np.zeros(n)
    complete = True
    for cols in column_blocks(n):
        block, finite = _block(values, cols)
        row_sum += block.sum(axis=1)
        col_sum[cols] = block.sum(axis=0)
        if finite is None:
            row_n += block.shape[1]
            col_n[cols] = m
        else:
            complete = False
            row_n += finite.sum(axis=1)
            col_n[cols] = finite.sum(axis=0)
    return Moments(row_sum, row_n, col_sum, col_n, complete)


# ---------------------------------------------------------------------- additive fit
@dataclass(frozen=True)
class AdditiveModel:
    """``values[i, j] ≈ mean + task_effects[i] + example_effects[j]`` (effects sum to zero)."""

    mean: float
    task_effects: np.ndarray  # (M,)
    example_effects: np.ndarray  # (N,)

    def reconstruct(self) -> np.ndarray:
        """The fitted matrix, ndarray of shape (n_tasks, n_examples)."""
        return self.mean + self.task_effects[:, None] + self.example_effects[None, :]


def additive_model(values: np.ndarray, stats: Moments | None = None) -> AdditiveModel:
    """Least-squares fit of ``μ + a_i + b_j`` over the measured entries of ``values``.

    With every entry measured the solution is the two-way ANOVA one (row mean + column mean −
    grand mean). With NaN present, the example effects are eliminated and the remaining
    (n_tasks × n_tasks) normal equations are solved exactly, so no iteration and no filling.
    """
    stats = stats or moments(values)
    mu = stats.mean
    if stats.complete:
        return AdditiveModel(mu, stats.row_mean - mu, stats.col_mean - mu)
    m, n = values.shape
    # Normal equations in the task effects a after substituting b_j = mean_i∈obs(x_ij − a_i):
    # (diag(n_i) − C) a = rowsum − W c,  C = W diag(1/n_j) Wᵀ,  W = mask, c = column means.
    coupling = np.zeros((m, m))
    rhs = stats.row_sum.copy()
    col_mean = stats.col_mean
    for cols in column_blocks(n):
        _, finite = _block(values, cols)
        weights = np.ones((m, cols.stop - cols.start)) if finite is None else finite.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(stats.col_n[cols] > 0, weights / stats.col_n[cols], 0.0)
        coupling += scaled @ weights.T
        rhs -= weights @ np.nan_to_num(col_mean[cols])
    system = np.diag(stats.row_n) - coupling
    task = np.linalg.lstsq(system, rhs, rcond=None)[0]  # singular by one constant; lstsq picks one
    example = np.zeros(n)
    for cols in column_blocks(n):
        block, finite = _block(values, cols)
        weights = np.ones_like(block) if finite is None else finite.astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            example[cols] = (block.sum(axis=0) - task @ weights) / stats.col_n[cols]
    example = np.nan_to_num(example)
    shift_a, shift_b = task.mean(), example.mean()
    return AdditiveModel(shift_a + shift_b, task - shift_a, example - shift_b)


def additive_fit(values: np.ndarray) -> np.ndarray:
    """The least-squares additive fit ``μ + a_i + b_j`` of ``values``, measured entries only.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Forgetting values; NaN means not measured.

    Returns
    -------
    ndarray of shape (n_tasks, n_examples)
        The fitted values, defined everywhere (also where ``values`` is NaN).
    """
    values = _checked(values)
    return additive_model(values).reconstruct()


# ---------------------------------------------------------------------- low-rank fits
@dataclass(frozen=True)
class LowRankFit:
    """A rank-r approximation ``task_factors @ diag(singular_values) @ example_factorsᵀ``.

    Attributes
    ----------
    task_factors : ndarray of shape (n_tasks, r)
        Orthonormal columns (task loadings).
    singular_values : ndarray of shape (r,)
        Non-increasing.
    example_factors : ndarray of shape (n_examples, r)
        Orthonormal columns (example loadings).
    masked : bool
        Whether the fit used masked alternating least squares (the matrix had NaN).
    n_iter : int
        ALS iterations (0 for an exact SVD).
    """

    task_factors: np.ndarray
    singular_values: np.ndarray
    example_factors: np.ndarray
    masked: bool = False
    n_iter: int = 0

    @property
    def rank(self) -> int:
        return int(self.singular_values.shape[0])

    def reconstruct(self) -> np.ndarray:
        """The approximation, ndarray of shape (n_tasks, n_examples)."""
        return (self.task_factors * self.singular_values) @ self.example_factors.T


def _orient(task: np.ndarray, example: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fix the sign ambiguity of each component: task loadings sum to a non-negative number."""
    signs = np.where(task.sum(axis=0) < 0, -1.0, 1.0)
    return task * signs, example * signs


def _from_factors(left: np.ndarray, right: np.ndarray, masked: bool, n_iter: int) -> LowRankFit:
    """Orthonormalise ``left @ right.T`` into a :class:`LowRankFit` (QR of each side, small SVD)."""
    q_left, r_left = np.linalg.qr(left)
    q_right, r_right = np.linalg.qr(right)
    core_u, s, core_vt = np.linalg.svd(r_left @ r_right.T)
    task, example = _orient(q_left @ core_u, q_right @ core_vt.T)
    return LowRankFit(task, s, example, masked, n_iter)


@dataclass
class Spectrum:
    """Singular values of a complete matrix and the residual sums of squares of rank-k fits."""

    singular_values: np.ndarray  # all of them (Gram) or the leading ones (randomized)
    sse: np.ndarray  # (K + 1,): SSE of the rank-k fit for k = 0..K
    fit: LowRankFit  # rank K
    method: str


def _gram(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Gram matrix of the short side in float64, and whether it is the task side (X Xᵀ).

    Accumulated block by block with BLAS ``dsyrk`` (symmetric rank-k update: half the flops of
    a general product, and much faster than ``block @ block.T`` in practice).
    """
    from scipy.linalg.blas import dsyrk

    m, n = values.shape
    task_side = m <= n
    size = m if task_side else n
    upper = np.zeros((size, size), order="F")
    for part in column_blocks(n if task_side else m):
        if task_side:
            block = np.asarray(values[:, part], dtype=np.float64)  # (M, b)
            upper = dsyrk(1.0, block.T, beta=1.0, c=upper, trans=1, overwrite_c=1)
        else:
            block = np.asarray(values[part], dtype=np.float64)  # (b, N)
            upper = dsyrk(1.0, block, beta=1.0, c=upper, trans=1, overwrite_c=1)
    gram = np.triu(upper)
    return gram + np.triu(gram, 1).T, task_side


def _project(values: np.ndarray, basis: np.ndarray, task_side: bool) -> np.ndarray:
    """``valuesᵀ @ basis`` (task_side) or ``values @ basis``, streamed; float64 result.

    A float32 matrix is multiplied in float32 (its own precision) rather than converted.
    """
    m, n = values.shape
    work = basis.astype(values.dtype) if values.dtype == np.float32 else basis
    if task_side:
        out = np.empty((n, basis.shape[1]))
        for cols in column_blocks(n):
            out[cols] = np.asarray(values[:, cols]).T @ work
        return out
    out = np.empty((m, basis.shape[1]))
    for rows in column_blocks(m):
        out[rows] = np.asarray(values[rows]) @ work
    return out


def gram_spectrum(values: np.ndarray, rank: int) -> Spectrum:
    """Exact spectrum of a complete matrix through the Gram matrix of its short side.

    SSE of the rank-k fit is the sum of the eigenvalues beyond k (no cancellation against the
    total). Costs one pass of ``min(M,N)² · max(M,N)`` flops and a small eigendecomposition.
    """
    gram, task_side = _gram(values)
    eigenvalues, vectors = np.linalg.eigh(gram)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    vectors = vectors[:, order[:rank]]
    s = np.sqrt(eigenvalues)
    tail = np.concatenate([np.cumsum(eigenvalues[::-1])[::-1], [0.0]])
    other = _project(values, vectors, task_side)  # (other side, rank) = side @ U · s
    with np.errstate(invalid="ignore", divide="ignore"):
        other = np.where(s[:rank] > 0, other / s[:rank], 0.0)
    left, right = (vectors, other) if task_side else (other, vectors)
    left, right = _orient(left, right)
    fit = LowRankFit(left, s[:rank].copy(), right)
    return Spectrum(s, tail[: rank + 1], fit, "gram")


def randomized_spectrum(
    values: np.ndarray, rank: int, total: float, *, n_values: int, seed: int
) -> Spectrum:
    """Leading singular values of a complete matrix by a randomized range finder.

    Halko, Martinsson & Tropp (2011): a Gaussian sketch with 10 extra columns and 4 power
    iterations, re-orthonormalised each time. ``total`` is ``‖values‖²`` so that the rank-k SSE
    is ``total − Σ_{i≤k} s_i²``.
    """
    rng = np.random.default_rng(seed)
    m, n = values.shape
    width = min(n_values + 10, m, n)
    sketch = values @ rng.standard_normal((n, width)).astype(values.dtype)
    basis = np.linalg.qr(sketch.astype(np.float64))[0]
    for _ in range(4):
        back = np.linalg.qr((values.T @ basis.astype(values.dtype)).astype(np.float64))[0]
        basis = np.linalg.qr((values @ back.astype(values.dtype)).astype(np.float64))[0]
    small = _project(values, basis, task_side=True).T  # (width, N) = basisᵀ X
    core_u, s, vt = np.linalg.svd(small, full_matrices=False)
    task, example = _orient((basis @ core_u)[:, :rank], vt[:rank].T)
    s = s[:n_values]
    explained = np.concatenate([[0.0], np.cumsum(s[:rank] ** 2)])
    sse = np.clip(total - explained, 0.0, None)
    return Spectrum(s, sse, LowRankFit(task, s[:rank].copy(), example), "randomized")


def masked_als(
    values: np.ndarray,
    rank: int,
    *,
    init: LowRankFit | None = None,
    max_iter: int = 500,
    tol: float = 1e-12,
    seed: int = 0,
) -> LowRankFit:
    """Rank-r least squares over the measured entries only, by alternating least squares.

    Each half-step solves, for every task (resp. example) at once, the r × r normal equations
    over that task's measured entries; the batched systems are built with one matrix product
    against the outer products of the other side's factors. Starts from ``init`` (e.g. the fit
    of rank r − 1 padded with a random column) or from a seeded random start; stops when the
    relative decrease of the error falls below ``tol``, or when it crawls (below 10⁻³ of the
    error and 10⁻⁹ of the total sum of squares, so R² moves by less than 10⁻⁹), warning with
    :class:`ConvergenceWarning` at ``max_iter``.
    """
    m = values.shape[0]
    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=np.float64)
    mask = np.isfinite(data)
    data = np.where(mask, data, 0.0)
    weights = mask.astype(np.float64)
    if init is not None and init.rank >= rank:
        left = init.task_factors[:, :rank] * init.singular_values[:rank]
    else:
        left = rng.standard_normal((m, rank)) * np.sqrt(np.abs(data).mean() + 1e-12)
        if init is not None and init.rank:
            left[:, : init.rank] = init.task_factors * init.singular_values
    scale = float((data**2).sum()) + 1e-300
    measured = data[mask]
    total = float(((measured - measured.mean()) ** 2).sum()) if measured.size else 0.0  # SST
    ridge = 1e-12
    previous = np.inf
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is reported)
        right = _solve_side(data.T, weights.T, left, ridge)  # (N, r)
        left = _solve_side(data, weights, right, ridge)  # (M, r)
        error = float(((data - left @ right.T) ** 2 * weights).sum())
        if error <= 1e-28 * scale:
            break
        if np.isfinite(previous):
            gain = previous - error
            # Converged, or a slow crawl (e.g. a component fitting noise) that no longer moves
            # R² visibly; an exact low-rank fit keeps a large relative gain and goes on.
            if gain <= tol * previous or (gain <= 1e-3 * previous and gain <= 1e-9 * total):
                break
        previous = error
    else:
        warnings.warn(
            f"masked rank-{rank} fit stopped after {max_iter} iterations before converging",
            ConvergenceWarning,
            stacklevel=2,
        )
    return _from_factors(left, right, masked=True, n_iter=n_iter)


def _solve_side(
    data: np.ndarray, weights: np.ndarray, other: np.ndarray, ridge: float
) -> np.ndarray:
    """Least-squares factors of each row of ``data`` given the other side's factors.

    data, weights : (P, Q); other : (Q, r). Returns (P, r) with, for row p,
    ``(Σ_q w_pq o_q o_qᵀ + λI) f_p = Σ_q w_pq x_pq o_q``.
    """
    rank = other.shape[1]
    out = np.empty((data.shape[0], rank))
    outer = (other[:, :, None] * other[:, None, :]).reshape(other.shape[0], rank * rank)
    for rows in column_blocks(data.shape[0], 1 << 14):
        normal = (weights[rows] @ outer).reshape(-1, rank, rank)  # (p, r, r)
        scale = np.trace(normal, axis1=1, axis2=2)[:, None, None] / rank + 1e-300
        normal += ridge * scale * np.eye(rank)
        rhs = data[rows] @ other  # (p, r); data is zero where unmeasured
        out[rows] = np.linalg.solve(normal, rhs[:, :, None])[:, :, 0]
    return out


def low_rank_fit(values: np.ndarray, rank: int, *, seed: int = 0) -> LowRankFit:
    """The best rank-``rank`` approximation of ``values`` over its measured entries.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Forgetting values; NaN means not measured.
    rank : int
        Number of components, ``1 <= rank < min(n_tasks, n_examples)``.
    seed : int
        Seeds the randomized SVD of large matrices and the start of the masked fit.

    Returns
    -------
    LowRankFit
        A truncated SVD when every entry is measured; masked alternating least squares (rank
        1, 2, ..., ``rank``, each started from the previous one) when there are NaN.
    """
    values = _checked(values)
    _check_rank(rank, values.shape)
    if np.isfinite(values).all():
        return complete_spectrum(values, rank, seed=seed).fit
    return masked_fits(values, rank, seed=seed)[-1]


def complete_spectrum(values: np.ndarray, rank: int, *, seed: int = 0) -> Spectrum:
    """Spectrum and rank-k errors of a complete matrix: exact Gram path or randomized SVD."""
    if min(values.shape) <= GRAM_LIMIT:
        return gram_spectrum(values, rank)
    total = sum(
        float((np.asarray(values[:, c], np.float64) ** 2).sum())
        for c in column_blocks(values.shape[1])
    )
    return randomized_spectrum(values, rank, total, n_values=max(2 * rank, 20), seed=seed)


def masked_fits(values: np.ndarray, rank: int, *, seed: int = 0) -> list[LowRankFit]:
    """Masked ALS fits of rank 1..``rank``, each warm-started from the one before."""
    fits: list[LowRankFit] = []
    previous: LowRankFit | None = None
    for k in range(1, rank + 1):
        previous = masked_als(values, k, init=previous, seed=seed + k)
        fits.append(previous)
    return fits


# ---------------------------------------------------------------------- all fits together
@dataclass
class FitReport:
    """R² of every fit, the spectrum, and the fitted pieces later stages reuse."""

    sst: float
    r2: dict[str, float]  # row_only, column_only, additive, multiplicative
    rank_r2: dict[int, float]  # k -> R² of the rank-k fit
    singular_values: np.ndarray
    fit: LowRankFit  # rank K
    rank1: LowRankFit
    additive: AdditiveModel
    stats: Moments
    method: str
    task_ss: np.ndarray  # (M,) Σ_j (x_ij − mean_i)² over measured entries
    example_ss: np.ndarray  # (N,) Σ_i (x_ij − mean_j)² over measured entries
    n_forgotten: int  # measured entries > 0


def fit_report(values: np.ndarray, rank: int, *, seed: int = 0) -> FitReport:
    """R² over the measured entries of the row, column, additive and rank-1..``rank`` fits.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        Float32 or float64; NaN means not measured. Never copied whole into float64.
    rank : int
        Largest rank K of the truncated fits.
    """
    values = _checked(values)
    _check_rank(rank, values.shape)
    stats = moments(values)
    additive = additive_model(values, stats)
    row_mean, col_mean = np.nan_to_num(stats.row_mean), np.nan_to_num(stats.col_mean)
    mu = stats.mean
    sst = sse_add = 0.0
    task_ss, example_ss = np.zeros(values.shape[0]), np.zeros(values.shape[1])
    forgotten = 0
    for cols in column_blocks(values.shape[1]):
        block, finite = _block(values, cols)
        w = 1.0 if finite is None else finite
        sst += float((((block - mu) ** 2) * w).sum())
        task_ss += (((block - row_mean[:, None]) ** 2) * w).sum(axis=1)
        example_ss[cols] = (((block - col_mean[cols]) ** 2) * w).sum(axis=0)
        fitted = additive.mean + additive.task_effects[:, None] + additive.example_effects[cols]
        sse_add += float((((block - fitted) ** 2) * w).sum())
        forgotten += int((block > 0).sum())  # unmeasured entries are 0 in the block
    sse_row, sse_col = float(task_ss.sum()), float(example_ss.sum())
    if stats.complete:
        spectrum = complete_spectrum(values, rank, seed=seed)
        sse_k = spectrum.sse
        fit, singular, method = spectrum.fit, spectrum.singular_values, spectrum.method
        rank1 = LowRankFit(
            fit.task_factors[:, :1], fit.singular_values[:1], fit.example_factors[:, :1]
        )
    else:
        fits = masked_fits(values, rank, seed=seed)
        sse_k = np.array([np.nan] + [masked_sse(values, f) for f in fits])
        fit, singular, method, rank1 = fits[-1], fits[-1].singular_values, "masked_als", fits[0]
    r2 = {
        "row_only": _r2(sse_row, sst),
        "column_only": _r2(sse_col, sst),
        "additive": _r2(sse_add, sst),
        "multiplicative": _r2(float(sse_k[1]), sst),
    }
    rank_r2 = {k: _r2(float(sse_k[k]), sst) for k in range(1, rank + 1)}
    return FitReport(
        sst,
        r2,
        rank_r2,
        np.asarray(singular),
        fit,
        rank1,
        additive,
        stats,
        method,
        task_ss,
        example_ss,
        forgotten,
    )


def masked_sse(values: np.ndarray, fit: LowRankFit) -> float:
    """Sum of squared errors of ``fit`` over the measured entries, streamed."""
    left = fit.task_factors * fit.singular_values
    total = 0.0
    for cols in column_blocks(values.shape[1]):
        block, finite = _block(values, cols)
        error = (block - left @ fit.example_factors[cols].T) ** 2
        total += float((error if finite is None else error * finite).sum())
    return total


def _r2(sse: float, sst: float) -> float:
    return float(1.0 - sse / sst) if sst > 0 else float("nan")


def _checked(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 2 or values.dtype.kind != "f":
        raise AnalysisError(
            f"expected a 2-D float matrix (tasks × examples), got {values.dtype} {values.shape}"
        )
    return values


def _check_rank(rank: int, shape: tuple[int, int]) -> None:
    limit = min(shape)
    if not 1 <= rank < limit:
        raise AnalysisError(
            f"rank {rank} must be at least 1 and below min(tasks, examples) = {limit}; "
            f"pass a smaller --rank"
        )
