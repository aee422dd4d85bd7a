"""Predicted forgetting of the replay pool, from k probes and a store of other tasks.

A completion estimator of :mod:`forgetmap.predict` is fitted on the store's finished rows
(leaving out a row of the same task id, so a task never predicts itself) and folds a new task
in from the measured forgetting of k pool examples. Only numpy here: the probes are measured by
the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgetmap.errors import ConfigError, StoreConflictError

__all__ = ["PoolPredictor", "check_store"]


def check_store(path: Path, config: Any, example_ids: Sequence[str], pool: np.ndarray) -> None:
    """Refuse a predictions store that cannot serve this experiment.

    It must exist, be built with the same base model as ``config.model.id``, be complete with
    at least two task rows, and have every pool example among its columns (same ids).
    """
    from forgetmap.store import open_store

    store = open_store(path)
    stored = store.config or {}
    model = (stored.get("model") or {}).get("id") if isinstance(stored, dict) else None
    if model is None:
        raise StoreConflictError(
            f"the predictions store {str(path)!r} records no base model (it was {store.kind}); "
            "use a store made by `forgetmap collect` with the same model"
        )
    if model != config.model.id:
        raise StoreConflictError(
            f"the predictions store {str(path)!r} was built with base model {model!r}, but this "
            f"experiment fine-tunes {config.model.id!r}; forgetting does not transfer between "
            "models — collect a store with the same model"
        )
    columns = set(store.example_ids)
    missing = [example_ids[i] for i in pool if example_ids[i] not in columns]
    if missing:
        raise ConfigError(
            f"{len(missing)} replay-pool example(s) (e.g. {missing[0]!r}) are not columns of the "
            f"predictions store {str(path)!r}; use the same [upstream] section as its collect "
            "config"
        )
    if store.missing():
        raise ConfigError(
            f"the predictions store {str(path)!r} has {len(store.missing())} unfinished task "
            "row(s); finish its collect run first (predictions must not depend on when the "
            "experiment started)"
        )
    if len(store.finished()) < 2:
        raise ConfigError(
            f"the predictions store {str(path)!r} has {len(store.finished())} finished task "
            "row(s); at least 2 are needed to fit a predictor"
        )


class PoolPredictor:
    """Predicts the forgetting of every pool example of a new task from k probes.

    Parameters
    ----------
    store_path : Path
        A collected store of other tasks (checked by :func:`check_store`).
    example_ids : sequence of str, length n_examples
        The experiment's upstream examples.
    pool : ndarray of int, shape (n_pool,)
        Their replay pool (indices into ``example_ids``).
    method : str
        Completion method name (``forgetmap evaluate --methods``).
    k : int
        Number of probes.
    probe : {"random", "active"}
        How the probes are chosen.
    """

    def __init__(
        self,
        store_path: Path,
        example_ids: Sequence[str],
        pool: np.ndarray,
        *,
        method: str,
        k: int,
        probe: str = "random",
    ) -> None:
        from forgetmap.store import open_store

        store = open_store(store_path)
        columns = {example_id: j for j, example_id in enumerate(store.example_ids)}
        self.pool = np.asarray(pool)
        # Store column of each pool example: predictions are made for all store columns.
        self.pool_columns = np.array([columns[example_ids[i]] for i in self.pool], dtype=np.intp)
        self.method = method
        self.k = int(k)
        self.probe = probe
        self._matrix = store.forgetting(finished_only=True).astype(np.float64)  # (M, N_store)
        self._task_ids = store.finished()
        self._fitted: dict[str, Any] = {}

    def _training_rows(self, task: str) -> np.ndarray:
        keep = [i for i, task_id in enumerate(self._task_ids) if task_id != task]
        if len(keep) < 2:
            raise ConfigError(
                f"the predictions store has fewer than 2 tasks other than {task!r} to fit on"
            )
        return self._matrix[keep]

    def _estimator(self, task: str) -> Any:
        if task not in self._fitted:
            from forgetmap.predict import make_estimator

            estimator = make_estimator(self.method, seed=0, k=self.k)
            self._fitted[task] = estimator.fit(self._training_rows(task))
        return self._fitted[task]

    def probes(self, task: str, seed: int) -> np.ndarray:
        """Positions in the pool of the k examples to measure, sorted; shape (k,)."""
        from forgetmap.predict.probing import active_probes, random_probes

        rng = np.random.default_rng([seed, _stable_int(task), 7])
        if self.probe == "active":
            components = _components(self._training_rows(task))
            chosen = active_probes(components, self.k, self.pool_columns, rng=rng)
            position = {column: p for p, column in enumerate(self.pool_columns)}
            return np.sort(np.array([position[c] for c in chosen], dtype=np.int64))
        return np.sort(random_probes(np.arange(self.pool.size), self.k, rng)).astype(np.int64)

    def directions(self, task: str, rank: int = 5) -> np.ndarray:
        """Each pool example's loadings on the store's leading factors, (n_pool, r).

        From the rows the task's predictions are fitted on (its own row left out): examples
        with close directions are forgotten by the same tasks.
        """
        return _loadings(self._training_rows(task), rank)[self.pool_columns]

    def predict(self, task: str, probes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Predicted forgetting of every pool example, ndarray of shape (n_pool,).

        Parameters
        ----------
        probes : ndarray of int, shape (k,)
            Pool positions from :meth:`probes`.
        values : ndarray of shape (k,)
            Their measured forgetting.
        """
        estimator = self._estimator(task)
        row = estimator.predict_row(self.pool_columns[np.asarray(probes)], np.asarray(values))
        return np.asarray(row, dtype=np.float64)[self.pool_columns]


def _components(Z: np.ndarray, rank: int = 5) -> np.ndarray:
    """Leading right singular vectors (r, n_examples) of the column-centred training rows."""
    _, V = _factors(Z, rank)
    return V.T


def _loadings(Z: np.ndarray, rank: int = 5) -> np.ndarray:
    """Each example's loadings ``s_i v_ij`` on the leading factors: (n_examples, r)."""
    s, V = _factors(Z, rank)
    return V * s


def _factors(Z: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (r,) and right vectors (n_examples, r) of the column-centred rows."""
    from forgetmap.predict._lowrank import truncated_svd

    filled = np.where(np.isfinite(Z), Z, np.nan)
    means = np.nanmean(filled, axis=0)
    centred = np.where(np.isfinite(filled), filled - means, 0.0)
    _, s, V = truncated_svd(centred, min(rank, min(centred.shape)))
    return s, V


def _stable_int(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
