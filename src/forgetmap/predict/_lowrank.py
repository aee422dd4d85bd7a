"""Rank-r completion: column factors learned once, a new task folded in by ridge on its probes.

Training rows give the example factors V (truncated SVD of the column-centred matrix, or masked
alternating least squares when entries are missing). A new task's scores w are the posterior mean
of ``y = V[cols] w + noise`` under the prior w ~ N(mean, var) of the training tasks' scores, so
the fold-in costs one r×r solve per task and never refits the model.
"""

from __future__ import annotations

import warnings

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict._base import (
    CompletionConvergenceWarning,
    StreamingEstimator,
    check_random_state,
    column_means,
)


def truncated_svd(R: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leading singular triplets of a complete matrix via the smaller Gram matrix.

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
    m, n = R.shape
    small_side = R @ R.T if m <= n else R.T @ R
    eigvals, eigvecs = np.linalg.eigh(small_side.astype(np.float64))
    order = np.argsort(eigvals)[::-1][:rank]
    eigvals, eigvecs = np.clip(eigvals[order], 0.0, None), eigvecs[:, order]
    s = np.sqrt(eigvals)
    keep = s > max(s[0] if s.size else 0.0, 1e-300) * 1e-7
    s, eigvecs = s[keep], eigvecs[:, keep]
    if m <= n:
        U = eigvecs
        V = (R.T @ U.astype(R.dtype)).astype(np.float64) / s
    else:
        V = eigvecs
        U = (R @ V.astype(R.dtype)).astype(np.float64) / s
    return U, s, V


def masked_als(
    R: np.ndarray, rank: int, *, reg: float, max_iter: int, tol: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Rank-r factors of a NaN-masked matrix by regularised alternating least squares.

    Minimises ``Σ_observed (R_ij - u_i·v_j)² + reg (|U|² + |V|²)``; returns the factors
    re-orthogonalised as (U, s, V) like :func:`truncated_svd`, the iterations run and whether the
    relative change of the objective fell below ``tol``.
    """
    finite = np.isfinite(R)
    weight = finite.astype(np.float64)
    filled = np.where(finite, R, 0.0).astype(np.float64)
    m, n = R.shape
    U0, s0, V0 = truncated_svd(filled, rank)
    r = max(len(s0), 1)
    U = U0 * np.sqrt(s0) if len(s0) else rng.normal(scale=1e-2, size=(m, r))
    V = V0 * np.sqrt(s0) if len(s0) else rng.normal(scale=1e-2, size=(n, r))
    eye = reg * np.eye(r)
    previous = np.inf
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        # Rows: (V^T W_i V + reg I) u_i = V^T W_i r_i, all rows at once.
        gram = np.einsum("in,nr,ns->irs", weight, V, V) + eye
        U = np.linalg.solve(gram, (filled @ V)[..., None])[..., 0]
        gram = np.einsum("in,ir,is->nrs", weight, U, U) + eye
        V = np.linalg.solve(gram, (filled.T @ U)[..., None])[..., 0]
        objective = float(
            (weight * (filled - U @ V.T) ** 2).sum() + reg * ((U**2).sum() + (V**2).sum())
        )
        if abs(previous - objective) <= tol * max(objective, 1e-300):
            converged = True
            break
        previous = objective
    Qu, Ru = np.linalg.qr(U)
    Qv, Rv = np.linalg.qr(V)
    a, s, bt = np.linalg.svd(Ru @ Rv.T)
    keep = s > max(s[0] if s.size else 0.0, 1e-300) * 1e-7
    return (Qu @ a)[:, keep], s[keep], (Qv @ bt.T)[:, keep], iteration, converged


class LowRank(StreamingEstimator):
    """Rank-r completion with ridge fold-in (column-centred by default).

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
        Relative change of the ALS objective that counts as converged.
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
        if int(self.rank) < 1:
            raise PredictionError(f"rank must be at least 1, got {self.rank}")
        rng = check_random_state(self.random_state)
        finite = np.isfinite(Z)
        means = column_means(Z)[0] if self.center else np.zeros(Z.shape[1])
        R = Z - means.astype(Z.dtype)[None, :]
        if finite.all():
            U, s, V = truncated_svd(R, int(self.rank))
            self.n_iter_ = 0
            total = float(np.einsum("ij,ij->", R, R, dtype=np.float64))
            residual_ss = max(total - float((s**2).sum()), 0.0)
            count = R.size
        else:
            U, s, V, self.n_iter_, converged = masked_als(
                R, int(self.rank), reg=self.reg, max_iter=self.max_iter, tol=self.tol, rng=rng
            )
            if not converged:
                warnings.warn(
                    f"alternating least squares did not converge in {self.max_iter} iterations",
                    CompletionConvergenceWarning,
                    stacklevel=3,
                )
            fitted = (U * s) @ V.T
            residual = np.where(finite, np.where(finite, R, 0.0) - fitted, 0.0)
            residual_ss = float((residual**2).sum())
            count = int(finite.sum())
        self._set_factors(means, U, s, V, residual_ss, count, Z.shape, float(np.nanmean(R**2)))

    def _set_factors(
        self,
        means: np.ndarray,
        U: np.ndarray,
        s: np.ndarray,
        V: np.ndarray,
        residual_ss: float,
        count: int,
        shape: tuple[int, int],
        mean_square: float,
    ) -> None:
        """State from the factors (U, s, V) of the (centred) training matrix of ``shape``.

        Shared by :meth:`fit` and the leave-one-task-out fast path, which gets the factors of
        each fold from the tasks' Gram matrix instead of from the fold's rows.
        """
        r = len(s)
        dof = max(count - r * (shape[0] + shape[1] - r), 1)
        scale_floor = 1e-24 * max(mean_square, 1e-300)
        self.column_means_ = means if means.dtype == np.float32 else means.astype(np.float64)
        # The example factors: an (N, r) array, or rows computed on demand (FactorRows).
        self._V = V if isinstance(V, FactorRows) else np.ascontiguousarray(V)
        self.singular_values_ = s
        self.task_factors_ = U * s
        self.noise_var_ = max(residual_ss / dof, scale_floor)
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
