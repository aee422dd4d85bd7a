"""Bernoulli models of binary forgetting (exact match lost): logits additive or low-rank.

Both fit the training tasks by alternating Newton steps on the penalised log-likelihood and fold
a new task in by a Newton fit of its own parameters (a task effect, or r scores) on the k probed
0/1 entries, with the training tasks' spread as a Gaussian prior. They output probabilities.
"""

from __future__ import annotations

import warnings

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict._base import CompletionConvergenceWarning, CompletionEstimator


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _column_logits(Z: np.ndarray, finite: np.ndarray) -> np.ndarray:
    ones = np.where(finite, Z, 0.0).sum(axis=0)
    count = finite.sum(axis=0)
    rate = (ones + 0.5) / (count + 1.0)
    return np.log(rate / (1.0 - rate))


def _newton_prior(
    design: np.ndarray, offset: np.ndarray, y: np.ndarray, mean: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """MAP logistic regression coefficients under N(mean, diag(var)); returns (w, covariance)."""
    w = mean.copy()
    precision = np.diag(1.0 / var)
    H = precision
    for _ in range(50):
        p = _sigmoid(offset + design @ w)
        gradient = design.T @ (y - p) - precision @ (w - mean)
        H = (design * (p * (1 - p))[:, None]).T @ design + precision
        step = np.linalg.solve(H, gradient)
        w = w + step
        if np.abs(step).max() < 1e-10:
            break
    return w, np.linalg.inv(H)


class _Logistic(CompletionEstimator):
    binary_only = True
    has_intervals = False

    def _warn(self, converged: bool) -> None:
        if not converged:
            warnings.warn(
                f"{type(self).__name__} fit did not converge in {self.max_iter} iterations",
                CompletionConvergenceWarning,
                stacklevel=4,
            )

    def _fold_in_many(
        self, cols: list[np.ndarray], values: list[np.ndarray], with_scale: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        logits = np.stack([self._logit_row(c, v) for c, v in zip(cols, values, strict=True)])
        p = _sigmoid(logits)
        return p, (np.sqrt(p * (1 - p)) if with_scale else None)


class LogisticAdditive(_Logistic):
    """logit P(forgotten) = b_j + a_task; a new task's a from its probes (Bernoulli likelihood).

    Parameters
    ----------
    reg : float, default=1.0
        L2 penalty on the task effects while fitting (keeps all-0 or all-1 rows finite).
    max_iter : int, default=100
    tol : float, default=1e-8

    Attributes
    ----------
    column_logits_ : ndarray of shape (n_examples,)
    task_effects_ : ndarray of shape (n_tasks,)
    task_var_ : float
        Prior variance of a new task's effect.
    """

    def __init__(self, reg: float = 1.0, max_iter: int = 100, tol: float = 1e-8) -> None:
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol

    def _fit(self, Z: np.ndarray) -> None:
        finite = np.isfinite(Z)
        y = np.where(finite, Z, 0.0)
        w = finite.astype(np.float64)
        b = _column_logits(Z, finite)
        a = np.zeros(Z.shape[0])
        converged = False
        for iteration in range(1, int(self.max_iter) + 1):
            self.n_iter_ = iteration
            p = _sigmoid(a[:, None] + b[None, :])
            step_a = ((w * (y - p)).sum(1) - self.reg * a) / ((w * p * (1 - p)).sum(1) + self.reg)
            a = a + step_a
            p = _sigmoid(a[:, None] + b[None, :])
            step_b = ((w * (y - p)).sum(0) - 1e-3 * b) / ((w * p * (1 - p)).sum(0) + 1e-3)
            b = b + step_b
            if max(np.abs(step_a).max(), np.abs(step_b).max()) < self.tol:
                converged = True
                break
        self._warn(converged)
        shift = a.mean()
        self.task_effects_, self.column_logits_ = a - shift, b + shift
        self.task_var_ = max(float(np.var(self.task_effects_)), 1e-2)

    def _logit_row(self, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
        design = np.ones((len(cols), 1))
        w, _ = _newton_prior(
            design, self.column_logits_[cols], values, np.zeros(1), np.array([self.task_var_])
        )
        return self.column_logits_ + w[0]


class LogisticLowRank(_Logistic):
    """logit P(forgotten) = m_j + u_task · v_j (rank r); a new task's u from its probes.

    Parameters
    ----------
    rank : int, default=3
    reg : float, default=1.0
        L2 penalty on both factor matrices.
    max_iter : int, default=50
    tol : float, default=1e-6
    random_state : int, Generator or None

    Attributes
    ----------
    column_logits_ : ndarray of shape (n_examples,)
        m_j.
    components_ : ndarray of shape (r, n_examples)
    task_factors_ : ndarray of shape (n_tasks, r)
    """

    def __init__(
        self,
        rank: int = 3,
        reg: float = 1.0,
        max_iter: int = 50,
        tol: float = 1e-6,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.rank = rank
        self.reg = reg
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit(self, Z: np.ndarray) -> None:
        from forgetmap.predict._base import check_random_state

        if int(self.rank) < 1:
            raise PredictionError(f"rank must be at least 1, got {self.rank}")
        rng = check_random_state(self.random_state)
        finite = np.isfinite(Z)
        y = np.where(finite, Z, 0.0)
        weight = finite.astype(np.float64)
        m, n = Z.shape
        r = int(self.rank)
        U = rng.normal(scale=0.1, size=(m, r))
        # Column parameters: [m_j, v_j] against task features [1, u_i].
        C = np.concatenate(
            [_column_logits(Z, finite)[:, None], rng.normal(scale=0.1, size=(n, r))], 1
        )
        penalty_c = np.diag(np.r_[1e-3, np.full(r, self.reg)])
        penalty_u = self.reg * np.eye(r)
        converged = False
        for iteration in range(1, int(self.max_iter) + 1):
            self.n_iter_ = iteration
            old = U.copy()
            # Tasks: one Newton step per row for u_i with the column offsets fixed.
            logits = C[:, 0][None, :] + U @ C[:, 1:].T
            p = _sigmoid(logits)
            curvature = weight * p * (1 - p)
            V = C[:, 1:]
            H = np.einsum("in,nr,ns->irs", curvature, V, V) + penalty_u
            g = (weight * (y - p)) @ V - U @ penalty_u
            U = U + np.linalg.solve(H, g[..., None])[..., 0]
            # Examples: one Newton step per column for (m_j, v_j).
            X = np.concatenate([np.ones((m, 1)), U], 1)  # (M, r+1)
            logits = X @ C.T
            p = _sigmoid(logits)
            curvature = weight * p * (1 - p)
            H = np.einsum("in,ir,is->nrs", curvature, X, X) + penalty_c
            g = (weight * (y - p)).T @ X - C @ penalty_c
            C = C + np.linalg.solve(H, g[..., None])[..., 0]
            if np.abs(U - old).max() < self.tol:
                converged = True
                break
        self._warn(converged)
        self.column_logits_ = C[:, 0].copy()
        self.components_ = C[:, 1:].T.copy()
        self.task_factors_ = U
        self.prior_mean_ = U.mean(axis=0)
        self.prior_var_ = np.maximum(U.var(axis=0), 1e-2)

    def _logit_row(self, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
        design = self.components_[:, cols].T  # (k, r)
        w, _ = _newton_prior(
            design, self.column_logits_[cols], values, self.prior_mean_, self.prior_var_
        )
        return self.column_logits_ + w @ self.components_
