"""Rank-r completion: column factors learned once, a new task folded in by ridge on its probes.

Training rows give the example factors V (truncated SVD of the column-centred matrix, or masked
alternating least squares when entries are missing). A new task's scores w are the posterior mean
of ``y = V[cols] w + noise`` under the prior w ~ N(mean, var) of the training tasks' scores, so
the fold-in costs one r×r solve per task and never refits the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forgetmap.core import (
    LowRankFit,
    alternating_least_squares,
    gram_eigenpairs,
    gram_svd,
    masked_sse,
)
from forgetmap.errors import PredictionError
from forgetmap.predict._base import StreamingEstimator, check_random_state, column_means

if TYPE_CHECKING:
    from forgetmap.predict._loo import TrainingStatistics

#: Directions with a singular value below this share of the largest are dropped.
NEGLIGIBLE = 1e-7


def _significant(s: np.ndarray) -> np.ndarray:
    """Which singular values (largest first) are not negligible against the largest."""
    return s > max(s[0] if s.size else 0.0, 1e-300) * NEGLIGIBLE


def truncated_svd(R: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leading singular triplets of a complete matrix via the smaller Gram matrix.

    :func:`forgetmap.core.gram_svd` (the decomposition ``analyze`` reports) without the
    directions of negligible singular value.

    Parameters
    ----------
    R : ndarray of shape (n_tasks, n_examples)
    rank : int

    Returns
    -------
    U : ndarray of shape (n_tasks, r)
    s : ndarray of shape (r,)
    V : ndarray of shape (n_examples, r)
        ``r <= rank``: directions with a negligible singular value are dropped.
    """
    U, s, V = gram_svd(R, min(int(rank), *R.shape))
    s = s[: U.shape[1]]
    keep = _significant(s)
    return U[:, keep], s[keep], V[:, keep]


@dataclass(frozen=True)
class FactorFit:
    """What a rank-r fit of the (centred) training rows leaves, the facts a LowRank keeps.

    Attributes
    ----------
    column_means : ndarray of shape (n_examples,)
        What was subtracted before the factors were fitted (zeros when not centred).
    task_factors : ndarray of shape (n_tasks, r)
        Orthonormal (U).
    singular_values : ndarray of shape (r,)
    example_factors : ndarray of shape (n_examples, r), or FactorRows
        Orthonormal (V); a leave-one-task-out fold computes them for the columns asked.
    residual_ss : float
        Sum of squared residuals over the measured entries.
    n_measured : int
    mean_square : float
        Mean square of the measured centred entries (the scale of the noise floor).
    """

    column_means: np.ndarray
    task_factors: np.ndarray
    singular_values: np.ndarray
    example_factors: np.ndarray | FactorRows
    residual_ss: float
    n_measured: int
    mean_square: float


class LowRank(StreamingEstimator):
    """Rank-r completion with ridge fold-in (column-centred by default).

    A complete training matrix is factored exactly (:func:`truncated_svd`); one with missing
    entries by masked alternating least squares with an L2 penalty
    (:func:`forgetmap.core.alternating_least_squares`, which warns
    :class:`~forgetmap.predict.CompletionConvergenceWarning` when it stops at ``max_iter``).

    Parameters
    ----------
    rank : int, default=5
        Number of factors r (fewer are kept when the training matrix has lower rank).
    center : bool, default=True
        Subtract the training column means first (the mean model plus r factors).
    alpha : float, default=1.0
        Multiplies the empirical-Bayes ridge σ²/τ²_r of the fold-in (0: least squares).
    reg : float, default=1e-3
        L2 penalty of alternating least squares (only when entries are missing).
    max_iter : int, default=200
        Iterations of alternating least squares.
    tol : float, default=1e-7
        Relative decrease of the ALS objective that counts as converged.
    random_state : int, Generator or None
        Seeds the initialisation of alternating least squares.

    Attributes
    ----------
    column_means_ : ndarray of shape (n_examples,)
    components_ : ndarray of shape (r, n_examples)
        Orthonormal example factors (right singular vectors).
    singular_values_ : ndarray of shape (r,)
    task_factors_ : ndarray of shape (n_tasks, r)
        Scores of the training tasks (U·s).
    noise_var_ : float
        Residual variance per entry (σ²).
    n_iter_ : int
        ALS iterations run (0 for a complete matrix).
    """

    fits_from_statistics = True

    def __init__(
        self,
        rank: int = 5,
        center: bool = True,
        alpha: float = 1.0,
        reg: float = 1e-3,
        max_iter: int = 200,
        tol: float = 1e-7,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.rank = rank
        self.center = center
        self.alpha = alpha
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit(self, Z: np.ndarray) -> None:
        rank = self._checked_rank()
        finite = np.isfinite(Z)
        means = column_means(Z)[0] if self.center else np.zeros(Z.shape[1])
        R = Z - means.astype(Z.dtype)[None, :]
        mean_square = float(np.nanmean(R**2))
        if finite.all():
            U, s, V = truncated_svd(R, rank)
            self.n_iter_ = 0
            total = float(np.einsum("ij,ij->", R, R, dtype=np.float64))
            residual_ss = max(total - float((s**2).sum()), 0.0)
            self._set_state(FactorFit(means, U, s, V, residual_ss, R.size, mean_square))
            return
        fit = alternating_least_squares(
            R,
            rank,
            reg=float(self.reg),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            seed=check_random_state(self.random_state),
        )
        self.n_iter_ = fit.n_iter
        keep = _significant(fit.singular_values)
        fit = LowRankFit(
            fit.task_factors[:, keep], fit.singular_values[keep], fit.example_factors[:, keep]
        )
        residual_ss = masked_sse(R, fit)
        self._set_state(
            FactorFit(
                means,
                fit.task_factors,
                fit.singular_values,
                fit.example_factors,
                residual_ss,
                int(finite.sum()),
                mean_square,
            )
        )

    def _fit_statistics(self, statistics: TrainingStatistics) -> None:
        """Factors from the eigendecomposition of the training rows' (centred) Gram matrix.

        The example factors ``Vᵀ = Uᵀ (Z − means) / s`` are not formed: :class:`FactorRows`
        computes them for the columns the evaluation asks about.
        """
        rank = self._checked_rank()
        count, n = statistics.n_tasks, statistics.n_examples
        gram = statistics.gram
        if self.center:
            means = statistics.column_means
            centre = np.eye(count) - 1.0 / count
            gram = centre @ gram @ centre
        else:
            means = np.zeros(n)
        eigenvalues, U = gram_eigenpairs(gram, rank)
        s = np.sqrt(eigenvalues[:rank])
        keep = _significant(s)
        s, U = s[keep], U[:, keep]
        weights = np.zeros((statistics.matrix.shape[0], len(s)))
        weights[statistics.rows] = U
        means = means.astype(statistics.dtype, copy=False)
        total = float(np.trace(gram))
        residual_ss = max(total - float((s**2).sum()), 0.0)
        self.n_iter_ = 0
        V = FactorRows(statistics.matrix, weights, means, s)
        self._set_state(FactorFit(means, U, s, V, residual_ss, count * n, total / (count * n)))

    def _checked_rank(self) -> int:
        if int(self.rank) < 1:
            raise PredictionError(f"rank must be at least 1, got {self.rank}")
        return int(self.rank)

    def _set_state(self, fit: FactorFit) -> None:
        """The estimator's state from a fit of its training rows (plain or from statistics)."""
        U, s, V = fit.task_factors, fit.singular_values, fit.example_factors
        r = len(s)
        m, n = U.shape[0], len(fit.column_means)
        dof = max(fit.n_measured - r * (m + n - r), 1)
        scale_floor = 1e-24 * max(fit.mean_square, 1e-300)
        means = fit.column_means
        self.column_means_ = means if means.dtype == np.float32 else means.astype(np.float64)
        # The example factors: an (N, r) array, or rows computed on demand (FactorRows).
        self._V = V if isinstance(V, FactorRows) else np.ascontiguousarray(V)
        self.singular_values_ = s
        self.task_factors_ = U * s
        self.noise_var_ = max(fit.residual_ss / dof, scale_floor)
        self.prior_mean_ = self.task_factors_.mean(axis=0) if r else np.zeros(0)
        prior_var = self.task_factors_.var(axis=0) if r else np.zeros(0)
        self.prior_var_ = np.maximum(prior_var, 1e-12 * max(prior_var.max(initial=0.0), 1e-300))

    @property
    def components_(self) -> np.ndarray:
        """Orthonormal example factors (right singular vectors), shape (r, n_examples)."""
        V = self._V
        return (V[:] if isinstance(V, FactorRows) else V).T

    def _scale_unit(self) -> float:
        return float(np.sqrt(self.noise_var_)) if self.noise_var_ > 0 else 1.0

    def _row_weights(self, posterior: object) -> tuple[np.ndarray, np.ndarray] | None:
        if isinstance(self._V, FactorRows):
            return self._V.Z, self._V.weights
        return None

    def fold_in(self, cols: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean (r,) and covariance (r, r) of a new task's scores from its probes."""
        A = np.asarray(self._V[cols], dtype=np.float64)  # (k, r)
        y = values - self.column_means_[cols] - A @ self.prior_mean_
        ridge = float(self.alpha) * self.noise_var_ / self.prior_var_
        H = A.T @ A + np.diag(ridge)
        H += np.eye(len(H)) * 1e-13 * max(np.trace(H) / max(len(H), 1), 1e-300)
        w = self.prior_mean_ + np.linalg.solve(H, A.T @ y)
        return w, self.noise_var_ * np.linalg.inv(H)

    def _posterior(
        self, cols: list[np.ndarray], values: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each row's score posterior: means (n_rows, r) and covariances (n_rows, r, r)."""
        posterior = [self.fold_in(c, v) for c, v in zip(cols, values, strict=True)]
        return np.stack([w for w, _ in posterior]), np.stack([c for _, c in posterior])

    def _expand(
        self,
        posterior: tuple[np.ndarray, np.ndarray],
        columns: slice | np.ndarray,
        with_scale: bool,
        row_products: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        W, cov = posterior
        if row_products is not None:
            V = self._V.from_products(row_products, columns)
        else:
            V = self._V[columns]  # (b, r)
        means = self.column_means_[columns]
        dtype = np.result_type(V.dtype, means.dtype)
        prediction = W.astype(dtype) @ V.T.astype(dtype, copy=False)
        prediction += means[None, :]
        if not with_scale:
            return prediction, None
        # vᵀ C v of every column for every row as one product: the r(r+1)/2 pairwise products
        # of the factors (shared by all rows) times each row's packed covariance.
        upper_i, upper_j = np.triu_indices(cov.shape[1])
        factors = V.T
        products = np.empty((len(upper_i), V.shape[0]), dtype=dtype)
        for m, (i, j) in enumerate(zip(upper_i, upper_j, strict=True)):
            np.multiply(factors[i], factors[j], out=products[m])
        packed = cov[:, upper_i, upper_j] * np.where(upper_i == upper_j, 1.0, 2.0)
        variance = packed.astype(dtype) @ products  # (n_rows, b)
        variance += dtype.type(self.noise_var_)
        np.maximum(variance, 0.0, out=variance)  # rounding of the packed sum, never below 0
        return prediction, np.sqrt(variance, out=variance)


class FactorRows:
    """Example factors of a leave-one-task-out fold, computed for the columns asked for.

    ``V = (Zᵀ A - means ⊗ Σ_t A_t) / s`` with A the fold's (n_tasks, r) task weights (zero on
    the held-out task): the same factors a refit finds, without an (N, r) array per fold; the
    evaluation reads them one column block at a time while the block of Z is in cache.
    """

    def __init__(
        self, Z: np.ndarray, weights: np.ndarray, means: np.ndarray, s: np.ndarray
    ) -> None:
        self.Z = Z
        self.weights = np.ascontiguousarray(weights.T.astype(Z.dtype))  # (r, n_tasks)
        self.weight_sums = weights.sum(axis=0)
        self.means = means
        self.s = s
        self.shape = (Z.shape[1], len(s))
        self.dtype = Z.dtype

    def __getitem__(self, columns: slice | np.ndarray) -> np.ndarray:
        return self.from_products(self.weights @ self.Z[:, columns], columns)

    def from_products(self, products: np.ndarray, columns: slice | np.ndarray) -> np.ndarray:
        """The factors of ``columns`` from ``weights @ Z[:, columns]`` (r, b) computed elsewhere."""
        V = products.T.copy()  # (b, r)
        V -= np.outer(self.means[columns], self.weight_sums).astype(V.dtype)
        V /= self.s.astype(V.dtype)
        return V


class Multiplicative(LowRank):
    """Rank-1, uncentred: forgetting = task strength × example susceptibility (the paper's fit).

    A new task's strength is the ridge fold-in of its probes on the example susceptibilities.
    Parameters and attributes as :class:`LowRank` with ``rank=1, center=False``.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        reg: float = 1e-3,
        max_iter: int = 200,
        tol: float = 1e-7,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            rank=1,
            center=False,
            alpha=alpha,
            reg=reg,
            max_iter=max_iter,
            tol=tol,
            random_state=random_state,
        )
