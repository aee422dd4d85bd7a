"""The evaluation protocol: splits over tasks, probe masks, metrics on unrevealed entries.

The protocol, not the estimator, draws the masks: for every test task and seed, k probe columns
are drawn without replacement, afresh, from that task's measured entries; the estimator sees only
those k values, and every metric is computed on the task's other measured entries.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict._base import CompletionConvergenceWarning, check_matrix
from forgetmap.predict._blas import one_blas_thread
from forgetmap.predict._folds import FoldRunner, draw_probes
from forgetmap.predict._metrics import row_metrics
from forgetmap.predict._registry import (
    ALL_METHODS,
    COMPLETION,
    DEFAULT_BINARY,
    DEFAULT_CONTINUOUS,
    make_estimator,
)

__all__ = ["draw_probes", "evaluate", "make_folds", "parse_split", "row_metrics"]


METRICS = (
    "rmse",
    "mae",
    "pearson",
    "spearman",
    "f1",
    "precision",
    "recall",
    "auc",
    "precision_at_10",
)


def parse_split(split: str) -> tuple[str, int | str | None]:
    """Parse ``loo``, ``kfold:5`` -> ("kfold", 5) or ``group:family`` -> ("group", "family")."""
    text = str(split).strip()
    if text == "loo":
        return "loo", None
    kind, _, arg = text.partition(":")
    if kind == "kfold":
        try:
            folds = int(arg)
        except ValueError:
            folds = 0
        if folds < 2:
            raise PredictionError(f"split {split!r}: kfold needs a number of folds >= 2 (kfold:5)")
        return "kfold", folds
    if kind == "group" and arg:
        return "group", arg
    raise PredictionError(f"unknown split {split!r}; use loo, kfold:N or group:FIELD")


def make_folds(
    n_tasks: int, split: str, *, groups: Sequence[Any] | None = None, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) pairs over tasks for a split.

    ``group:FIELD`` holds out each task family in turn (out-of-domain): ``groups`` gives the
    family of every task row.
    """
    kind, arg = parse_split(split)
    rows = np.arange(n_tasks)
    if kind == "loo":
        tests = [np.array([i]) for i in rows]
    elif kind == "kfold":
        assert isinstance(arg, int)
        if arg > n_tasks:
            raise PredictionError(f"split kfold:{arg} needs at least {arg} tasks, got {n_tasks}")
        tests = [
            np.sort(f) for f in np.array_split(np.random.default_rng(seed).permutation(rows), arg)
        ]
    else:
        if groups is None or len(groups) != n_tasks:
            raise PredictionError(f"split {split!r} needs the task field {arg!r} for every task")
        labels = np.asarray([str(g) for g in groups])
        names = list(dict.fromkeys(labels))
        if len(names) < 2:
            raise PredictionError(f"split {split!r}: all tasks share one {arg!r}; need two or more")
        tests = [np.flatnonzero(labels == name) for name in names]
    return [(np.setdiff1d(rows, test), test) for test in tests]


class _Tally:
    """Metric sums of one method, per seed, over all test rows."""

    def __init__(self, n_seeds: int) -> None:
        self.pooled = np.zeros((n_seeds, 6))  # se, ae, n, tp, fp, fn
        self.rows: dict[str, list[list[float]]] = {
            name: [[] for _ in range(n_seeds)]
            for name in ("pearson", "spearman", "auc", "precision_at_10")
        }
        self.covered = np.zeros((n_seeds, 2))
        self.seconds = 0.0

    def add(self, seed: int, metrics: dict[str, float]) -> None:
        self.pooled[seed] += [metrics[k] for k in ("se", "ae", "n", "tp", "fp", "fn")]
        for name, lists in self.rows.items():
            lists[seed].append(metrics[name])

    def summary(self, with_coverage: bool) -> dict[str, float | None]:
        se, ae, n, tp, fp, fn = self.pooled.T
        with np.errstate(invalid="ignore", divide="ignore"):
            per_seed = {
                "rmse": np.sqrt(se / n),
                "mae": ae / n,
                "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
                "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
                "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
            }
            for name, lists in self.rows.items():
                per_seed[name] = np.array([_nanmean(values) for values in lists])
            if with_coverage:
                per_seed["coverage_90"] = self.covered[:, 0] / self.covered[:, 1]
        result: dict[str, float | None] = {}
        for name in (*METRICS, "coverage_90"):
            if name not in per_seed:
                continue
            values = per_seed[name]
            result[name] = _number(_nanmean(values))
            finite = values[np.isfinite(values)]
            result[f"{name}_std"] = _number(float(finite.std())) if finite.size else None
        result["seconds"] = round(self.seconds, 4)
        return result


def _nanmean(values: Any) -> float:
    array = np.asarray(values, dtype=np.float64)
    finite = array[np.isfinite(array)]
    return float(finite.mean()) if finite.size else math.nan


def _number(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _continuous_methods() -> list[str]:
    """Completion methods that model any forgetting values (not only 0/1)."""
    return [name for name in COMPLETION if not make_estimator(name).binary_only]


def _is_binary(Z: np.ndarray) -> bool:
    """Whether every measured entry is 0 or 1; row by row, so a continuous matrix stops early."""
    seen = False
    for row in Z:
        finite = row[np.isfinite(row)]
        if finite.size and not ((finite == 0.0) | (finite == 1.0)).all():
            return False
        seen = seen or bool(finite.size)
    return seen


def _baseline(
    name: str,
    similarities: Mapping[str, np.ndarray] | None,
    texts: Mapping[str, Any] | None,
    shape: tuple[int, int],
    seed: int,
) -> tuple[Any | None, str | None]:
    """The baseline estimator for ``name``, or None and the reason it cannot run."""
    from forgetmap.predict.baselines import CalibratedScore, RepresentationDotProduct

    similarities = similarities or {}
    if name.startswith("similarity_") or name == "gradient":
        key = "gradient" if name == "gradient" else name.removeprefix("similarity_")
        scores = similarities.get(key)
        if scores is None:
            return None, f"no similarity_{key} array (run `forgetmap similarity` first)"
        if np.shape(scores) != shape:
            return None, f"similarity_{key} has shape {np.shape(scores)}, the matrix {shape}"
        return CalibratedScore(np.asarray(scores)), None
    if texts is None or texts.get("tasks") is None or texts.get("examples") is None:
        return None, "needs task training texts (artifact task_texts) and example texts"
    if len(texts["tasks"]) != shape[0] or len(texts["examples"]) != shape[1]:
        return None, "task texts or example texts do not match the matrix"
    if any(text is None for text in texts["examples"]):
        return None, "some examples have no text"
    return RepresentationDotProduct(texts["tasks"], texts["examples"], random_state=seed), None


@one_blas_thread
def evaluate(
    values: Any,
    *,
    methods: Sequence[str] | None = None,
    k: int = 30,
    seeds: int = 10,
    split: str = "loo",
    probe: str = "random",
    groups: Sequence[Any] | None = None,
    similarities: Mapping[str, np.ndarray] | None = None,
    texts: Mapping[str, Any] | None = None,
    threshold: float = 0.0,
    level: float = 0.9,
    seed: int = 0,
    max_rank_entries: int = 20_000,
    scatter_points: int = 2000,
    threads: int | None = None,
) -> dict[str, Any]:
    """Compare predictors of a held-out task's forgetting from k probed examples.

    Parameters
    ----------
    values : array-like of shape (n_tasks, n_examples)
        The forgetting matrix; NaN marks unmeasured entries.
    methods : list of str, optional
        Completion methods (``mean``, ``additive``, ``multiplicative``, ``lowrank``, ``knn``,
        ``logistic_additive``, ``logistic_lowrank``) and baselines (``similarity_embedding``,
        ``similarity_tfidf``, ``gradient``, ``representation``). Default: all that suit the
        matrix (logistic ones only for binary matrices). A logistic method asked for a matrix
        that is not binary, or a list of which none can run, raises ``PredictionError``.
    k : int
        Probes per test task; must be below every test row's number of measured entries.
    seeds : int
        Repetitions with fresh probe draws; metrics are mean and std over them.
    split : str
        ``loo``, ``kfold:N`` or ``group:FIELD`` (with ``groups``).
    probe : str
        ``random`` or ``active`` (greedy D-optimal on the training rows' leading factors).
    groups : sequence, optional
        The FIELD value of each task row, for ``group:FIELD``.
    similarities : {"embedding"|"tfidf"|"gradient": ndarray (n_tasks, n_examples)}, optional
    texts : {"tasks": list of list of str, "examples": list of str}, optional
        For the representation baseline.
    threshold : float
        An entry is "forgotten" when its forgetting exceeds it (F1, precision, recall, AUC);
        predictions are flagged above it too (above 0.5 for binary matrices).
    level : float
        Nominal coverage of the predictive intervals (reported as ``coverage_90`` for 0.9).
    max_rank_entries : int
        Rank-based metrics (Spearman, AUC, precision@10%) of a row use a seeded subsample of at
        most this many unrevealed entries (all of them below it).
    threads : int, optional
        Folds evaluated in parallel (default: the CPUs this process may use, or one below
        4,000,000 matrix entries). The numbers do not depend on it: folds are merged in order.

    Returns
    -------
    dict
        ``methods`` {name: {rmse, mae, pearson, spearman, f1, precision, recall, auc,
        precision_at_10, coverage_90 (methods with intervals), seconds (summed over folds, so
        over threads too), and ``<metric>_std``}},
        ``skipped`` {name: reason}, ``settings``, ``scatter`` {name: {true, predicted}}.
    """
    Z = check_matrix(values, "forgetting matrix")
    n_tasks, n_examples = Z.shape
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise PredictionError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    if int(seeds) < 1:
        raise PredictionError(f"seeds must be at least 1, got {seeds!r}")
    if probe not in ("random", "active"):
        raise PredictionError(f"unknown probe strategy {probe!r}; use random or active")
    if not 0.0 < level < 1.0:
        raise PredictionError(f"interval level must lie in (0, 1), got {level}")
    bad_threads = isinstance(threads, bool) or (threads is not None and int(threads) != threads)
    if threads is not None and (bad_threads or threads < 1):
        raise PredictionError(f"threads must be a positive integer, got {threads!r}")
    binary = _is_binary(Z)
    predicted_threshold = 0.5 if binary else threshold
    requested = list(methods) if methods else list(DEFAULT_BINARY if binary else DEFAULT_CONTINUOUS)
    for name in requested:
        if name not in ALL_METHODS:
            raise PredictionError(f"unknown method {name!r}; choose from {', '.join(ALL_METHODS)}")
        if not binary and name in COMPLETION and make_estimator(name).binary_only:
            raise PredictionError(
                f"method {name!r} models binary (0/1) forgetting, and this matrix holds other "
                "values; use it on a binary metric such as exact_match, or choose a "
                "continuous method: " + ", ".join(_continuous_methods())
            )
    folds = make_folds(n_tasks, split, groups=groups, seed=seed)
    measured = np.isfinite(Z)
    for train, test in folds:
        for row in test:
            count = int(measured[row].sum())
            if count == 0:
                raise PredictionError(f"test task row {row} has no measured (finite) entries")
            if k >= count:
                raise PredictionError(
                    f"k={k} probes must be fewer than the {count} measured entries "
                    f"of task row {row}"
                )
        if int(measured[train].any(axis=1).sum()) < 2:
            raise PredictionError(
                f"a fold has {int(measured[train].any(axis=1).sum())} training task row(s) with "
                "measured entries; at least 2 are needed"
            )

    skipped: dict[str, str] = {}
    runnable: list[str] = []
    for name in requested:
        if name in COMPLETION:
            if make_estimator(name).binary_only and not binary:
                skipped[name] = "models binary (0/1) forgetting; this matrix is not binary"
                continue
        else:
            _, reason = _baseline(name, similarities, texts, Z.shape, seed)
            if reason:
                skipped[name] = reason
                continue
        runnable.append(name)

    if not runnable:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
        raise PredictionError(f"none of the asked methods can run on this matrix ({reasons})")

    n_seeds = int(seeds)
    tallies = {name: _Tally(n_seeds) for name in runnable}
    scatter: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in runnable}
    n_test_rows = sum(len(test) for _, test in folds)
    # Leave-one-task-out on a complete matrix: fold fits from shared statistics, no refits.
    shared = None
    if parse_split(split)[0] == "loo" and bool(measured.all()):
        from forgetmap.predict._loo import LeaveOneOut

        fast = [
            n for n in runnable if n in COMPLETION and LeaveOneOut.supports(make_estimator(n, seed))
        ]
        if fast or probe == "active":
            start = time.perf_counter()
            shared = LeaveOneOut(Z)
            for name in fast:
                tallies[name].seconds += (time.perf_counter() - start) / len(fast)
    runner = FoldRunner(
        Z=Z,
        measured=measured,
        methods=runnable,
        k=k,
        n_seeds=n_seeds,
        probe=probe,
        seed=seed,
        threshold=threshold,
        predicted_threshold=predicted_threshold,
        level=level,
        max_rank_entries=max_rank_entries,
        per_row_points=max(1, math.ceil(scatter_points / max(n_test_rows, 1))),
        make_baseline=lambda name: _baseline(name, similarities, texts, Z.shape, seed)[0],
        shared=shared,
    )
    workers = _worker_count(threads, len(folds), Z.size)
    with warnings.catch_warnings():  # set once: catch_warnings is not thread-safe
        warnings.simplefilter("ignore", CompletionConvergenceWarning)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(lambda fold: runner.run(*fold), folds))
        else:
            results = [runner.run(train, test) for train, test in folds]
    for result in results:  # in fold order: the same sums whatever the number of threads
        for name in runnable:
            tally = tallies[name]
            tally.seconds += result.seconds[name]
            for row in result.rows[name]:
                for s in range(n_seeds):
                    tally.add(s, row.metrics[s])
                    if row.covered is not None:
                        tally.covered[s] += row.covered[s]
                scatter[name][0].extend(row.true_points)
                scatter[name][1].extend(row.predicted_points)

    return {
        "methods": {
            name: tallies[name].summary(
                with_coverage=name in COMPLETION and fitted_has_intervals(name)
            )
            for name in runnable
        },
        "skipped": skipped,
        "settings": {
            "k": k,
            "seeds": n_seeds,
            "split": split,
            "probe": probe,
            "threshold": threshold,
            "predicted_threshold": predicted_threshold,
            "level": level,
            "seed": seed,
            "binary": binary,
            "n_tasks": n_tasks,
            "n_examples": n_examples,
            "n_folds": len(folds),
            "n_test_rows": n_test_rows,
            "max_rank_entries": max_rank_entries,
            "methods": requested,
        },
        "scatter": {
            name: {
                "true": [round(v, 6) for v in scatter[name][0][:scatter_points]],
                "predicted": [round(float(v), 6) for v in scatter[name][1][:scatter_points]],
            }
            for name in runnable
        },
    }


PARALLEL_ENTRIES = 4_000_000
"""Below this many matrix entries the folds run on one thread by default: their numpy calls are
too short to release the GIL for long, and a pool costs more than it gains (measured: 8 × 128,
0.16 s on two threads against 0.10 s on one)."""


def _worker_count(threads: int | None, n_folds: int, n_entries: int) -> int:
    """Threads for the folds: as asked, else every CPU this process may use (one for a small
    matrix, see :data:`PARALLEL_ENTRIES`); never more than the folds."""
    if threads is None and n_entries < PARALLEL_ENTRIES:
        threads = 1
    if threads is None:
        try:
            threads = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            threads = os.cpu_count() or 1
    return max(1, min(int(threads), n_folds))


def fitted_has_intervals(name: str) -> bool:
    """Whether the completion method ``name`` gives predictive intervals."""
    return bool(make_estimator(name).has_intervals)
