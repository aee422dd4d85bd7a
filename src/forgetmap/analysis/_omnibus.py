"""Do task families differ at all? One permutation test per grouping field, over all its groups.

The per-group tests in :mod:`forgetmap.analysis._patterns` ask whether *one* group stands out
from the rest; with a dozen tasks each group holds three to five, so each test alone has little
power and the false-discovery correction over many of them takes most of what is left. The
question a user asks first is the omnibus one — *do the families forget differently?* — and it
has two parts, tested here with the task as the unit (labels are permuted across tasks, never
across entries, since a task's entries are not independent):

- ``families_amount`` — do the families forget different *amounts*? A one-way permutation
  ANOVA: the F statistic of the tasks' mean forgetting between groups.
- ``families_pattern`` — do they forget different *examples*? PERMANOVA (Anderson 2001) on the
  tasks' forgetting profiles after the additive fit (each entry minus its task's and example's
  means), with Euclidean distances, so a family is different when its tasks share a pattern
  over examples that the other tasks do not, whatever their overall amount.

Both read the matrix once in column blocks for the tasks' Gram matrix of profiles (M × M), so
they cost O(M² N) flops and O(M²) memory, and every permutation after that is O(M²).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from forgetmap.analysis._blocks import column_blocks, float_block

__all__ = ["PERMUTATIONS", "family_tests", "profile_gram"]

#: Label permutations per test (the smallest attainable p-value is 1 / (PERMUTATIONS + 1)).
PERMUTATIONS = 9999


def profile_gram(
    values: np.ndarray, task_mean: np.ndarray, example_mean: np.ndarray, mean: float
) -> np.ndarray:
    """Gram matrix of the tasks' profiles after the additive fit, centred across tasks.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        NaN where unmeasured; an unmeasured entry's residual counts as 0 (it adds no distance).
    task_mean, example_mean : ndarray of shape (n_tasks,), (n_examples,)
        Mean forgetting of each task and of each example over what was measured.
    mean : float
        Mean of all measured entries.

    Returns
    -------
    ndarray of shape (n_tasks, n_tasks)
        ``K = P R Rᵀ P`` with ``R`` the residual profiles and ``P`` the centring matrix, so that
        ``tr K`` is PERMANOVA's total sum of squares.
    """
    m = values.shape[0]
    gram = np.zeros((m, m))
    for cols in column_blocks(values.shape[1]):
        block, finite = float_block(values, cols)
        resid = block - task_mean[:, None] - example_mean[None, cols] + mean  # (M, B)
        if finite is not None:
            resid = np.where(finite, resid, 0.0)
        resid = np.nan_to_num(resid)  # an example or task with nothing measured: no distance
        gram += resid @ resid.T
    centring = np.eye(m) - 1.0 / m
    return centring @ gram @ centring


def family_tests(
    labels: Mapping[str, tuple[np.ndarray, list[str]]],
    task_mean: np.ndarray,
    gram: np.ndarray,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Both omnibus tests for every task field with at least two groups of which one has two
    or more tasks (rows shaped like the per-group tests' rows, ``value = "all groups"``).

    Parameters
    ----------
    labels : {field: (codes, names)}
        Group codes of each task (ndarray of int of shape (n_tasks,)) and the groups' names.
    task_mean : ndarray of shape (n_tasks,)
    gram : ndarray of shape (n_tasks, n_tasks)
        From :func:`profile_gram`.
    rng : numpy Generator
        Draws the permutations.
    """
    measured = np.isfinite(task_mean)
    rows: list[dict[str, Any]] = []
    for field, (codes, names) in labels.items():
        codes = np.asarray(codes)[measured]
        sizes = np.bincount(codes, minlength=len(names))
        n_groups = int((sizes > 0).sum())
        if n_groups < 2 or n_groups == codes.size or sizes.max() < 2:
            continue  # nothing to compare, or every task its own group (no within spread)
        codes = np.unique(codes, return_inverse=True)[1]  # 0..n_groups-1
        permuted = np.stack([codes] + [rng.permutation(codes) for _ in range(PERMUTATIONS)])
        base = {
            "axis": "tasks",
            "field": field,
            "value": "all groups",
            "size": n_groups,
        }
        means = task_mean[measured]
        centred = means - means.mean()
        amount = _pseudo_f(np.outer(centred, centred), permuted, n_groups)
        pattern = _pseudo_f(gram[np.ix_(measured, measured)], permuted, n_groups)
        for name, statistics in (("families_amount", amount), ("families_pattern", pattern)):
            observed = statistics[0]
            extreme = int((statistics[1:] >= observed - 1e-12 * max(abs(observed), 1.0)).sum())
            rows.append(
                {
                    **base,
                    "test": f"{name}_permutation",
                    "statistic": float(observed),
                    "p_value": (1 + extreme) / (1 + PERMUTATIONS),
                }
            )
    return rows


def _pseudo_f(gram: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """PERMANOVA's pseudo-F of a centred Gram matrix for each row of label ``codes``.

    With ``K`` centred, the between-group sum of squares is ``Σ_g (1_gᵀ K 1_g) / n_g`` and the
    total ``tr K``; for a one-column ``K = x xᵀ`` this is the one-way ANOVA F of ``x``.

    Parameters
    ----------
    codes : ndarray of int of shape (n_labelings, n_tasks)
    """
    n = gram.shape[0]
    total = float(np.trace(gram))
    between = np.empty(codes.shape[0])
    batch = max(1, 2_000_000 // (n_groups * n))  # labelings per pass: a few MB of indicators
    for start in range(0, codes.shape[0], batch):
        chunk = codes[start : start + batch]
        onehot = np.zeros((chunk.shape[0], n_groups, n))  # (P, G, M)
        np.put_along_axis(onehot, chunk[:, None, :], 1.0, axis=1)
        sums = ((onehot @ gram) * onehot).sum(axis=2)  # (P, G): 1_gᵀ K 1_g
        between[start : start + batch] = (sums / onehot.sum(axis=2)).sum(axis=1)
    within = np.maximum(total - between, 1e-300)
    return (between / (n_groups - 1)) / (within / (n - n_groups))
