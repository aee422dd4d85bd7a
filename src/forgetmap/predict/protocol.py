"""The evaluation protocol: splits over tasks, probe masks, metrics on unrevealed entries.

The protocol, not the estimator, draws the masks: for every test task and seed, k probe columns
are drawn without replacement, afresh, from that task's measured entries; the estimator sees only
those k values, and every metric is computed on the task's other measured entries.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict import _registry
from forgetmap.predict._base import CompletionConvergenceWarning, check_matrix
from forgetmap.predict.probing import active_probes, random_probes

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


def draw_probes(measured: np.ndarray, k: int, n_seeds: int, *, seed: int, row: int) -> np.ndarray:
    """Random probe columns of one test row for each seed, shape (n_seeds, k).

    Drawn without replacement from the row's measured columns, with an independent generator per
    (seed, row, repetition), so every row and repetition gets a fresh draw.
    """
    return np.stack(
        [
            random_probes(measured, k, np.random.default_rng([seed, row, repetition]))
            for repetition in range(n_seeds)
        ]
    )


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), as ``scipy.stats.rankdata``, from one sort.

    Average ranks do not depend on the order of equal keys, so any sort serves; NaN goes to
    rankdata (which propagates it).
    """
    order = np.argsort(x)
    ordered = x[order]
    ranks = np.empty(x.size, dtype=np.float64)
    if ordered.size < 2:
        ranks[order] = np.arange(1, x.size + 1)
        return ranks
    if np.isnan(ordered[-1]):
        from scipy.stats import rankdata

        return rankdata(x)
    first = np.empty(x.size, dtype=bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    if first.all():
        ranks[order] = np.arange(1, x.size + 1)
        return ranks
    group = np.cumsum(first) - 1
    starts = np.append(np.flatnonzero(first), x.size)
    ranks[order] = 0.5 * (starts[group] + starts[group + 1] + 1)
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator > 0 else math.nan


class _Truth:
    """What the metrics need from one row's unrevealed truth, computed once for all methods."""

    def __init__(self, truth: np.ndarray, threshold: float, rank_sample: np.ndarray | None):
        self.truth = truth
        self.positive = truth > threshold
        self.rank_sample = rank_sample
        sample = truth if rank_sample is None else truth[rank_sample]
        self.sample_positive = self.positive if rank_sample is None else self.positive[rank_sample]
        self.sample_ranks = _ranks(sample)
        self.top = max(1, math.ceil(0.1 * sample.size))
        self.true_top = np.zeros(sample.size, dtype=bool)
        if self.top < sample.size:
            self.true_top[np.argpartition(-sample, self.top - 1)[: self.top]] = True


def _metrics(truth: _Truth, predicted: np.ndarray, predicted_threshold: float) -> dict[str, float]:
    error = predicted - truth.truth
    positive = truth.positive
    flagged = predicted > predicted_threshold
    out = {
        "se": float(error @ error),
        "ae": float(np.abs(error).sum()),
        "n": float(error.size),
        "tp": float((positive & flagged).sum()),
        "fp": float((~positive & flagged).sum()),
        "fn": float((positive & ~flagged).sum()),
        "pearson": _pearson(truth.truth, predicted),
    }
    sample = predicted if truth.rank_sample is None else predicted[truth.rank_sample]
    out.update(_rank_metrics(truth, sample))
    return out


def _rank_metrics(truth: _Truth, sample: np.ndarray) -> dict[str, float]:
    """Spearman, AUC and precision@10% of the predictions on the truth's rank sample."""
    out: dict[str, float] = {}
    rank_predicted = _ranks(sample)
    out["spearman"] = _pearson(truth.sample_ranks, rank_predicted)
    positive = truth.sample_positive
    n_pos = int(positive.sum())
    n_neg = sample.size - n_pos
    out["auc"] = (
        (float(rank_predicted[positive].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        if n_pos and n_neg
        else math.nan
    )
    if truth.top < sample.size:
        predicted_top = np.argpartition(-sample, truth.top - 1)[: truth.top]
        out["precision_at_10"] = float(truth.true_top[predicted_top].mean())
    else:
        out["precision_at_10"] = math.nan
    return out


def _complete_row_metrics(
    truth_row: np.ndarray,
    prediction: np.ndarray,
    probes: np.ndarray,
    samples: Sequence[_Truth],
    sample_columns: Sequence[np.ndarray],
    *,
    threshold: float,
    predicted_threshold: float,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> tuple[list[dict[str, float]], np.ndarray | None]:
    """:func:`_metrics` for every seed of a fully measured row, without gathering hidden entries.

    The pooled sums (and the Pearson sums and interval hits) are taken over the whole row of
    ``prediction`` (n_seeds, n_examples) at once, then the ``probes`` (n_seeds, k) are
    subtracted: one pass per quantity over all seeds instead of copies of every seed's
    unrevealed entries. ``samples[s]`` is the truth on the columns ``sample_columns[s]`` used
    by the rank metrics. Returns the per-seed metrics and, with intervals, the per-seed
    (covered, count) of the unrevealed entries.
    """
    n_seeds, n = prediction.shape
    count = n - probes.shape[1]
    probe_truth = truth_row[probes]
    probe_prediction = np.take_along_axis(prediction, probes, axis=1)
    buffer = np.subtract(prediction, truth_row)
    probe_error = probe_prediction - probe_truth
    se = np.einsum("ij,ij->i", buffer, buffer) - np.einsum("ij,ij->i", probe_error, probe_error)
    ae = np.abs(buffer, out=buffer).sum(axis=1) - np.abs(probe_error).sum(axis=1)
    positive = truth_row > threshold
    flagged = prediction > predicted_threshold
    probe_positive = probe_truth > threshold
    probe_flagged = probe_prediction > predicted_threshold
    n_flagged = np.count_nonzero(flagged, axis=1) - np.count_nonzero(probe_flagged, axis=1)
    n_positive = int(np.count_nonzero(positive)) - np.count_nonzero(probe_positive, axis=1)
    np.logical_and(flagged, positive, out=flagged)
    tp = np.count_nonzero(flagged, axis=1) - np.count_nonzero(
        probe_flagged & probe_positive, axis=1
    )
    # Pearson from sums over the unrevealed entries, shifted by the row means for accuracy.
    truth_shift = truth_row - truth_row.mean()
    predicted_centre = prediction.mean(axis=1, keepdims=True)
    np.subtract(prediction, predicted_centre, out=buffer)
    probe_a = probe_truth - truth_row.mean()
    probe_b = probe_prediction - predicted_centre
    sum_a = float(truth_shift.sum()) - probe_a.sum(axis=1)
    sum_aa = float(truth_shift @ truth_shift) - (probe_a * probe_a).sum(axis=1)
    sum_b = buffer.sum(axis=1) - probe_b.sum(axis=1)
    sum_bb = np.einsum("ij,ij->i", buffer, buffer) - (probe_b * probe_b).sum(axis=1)
    sum_ab = buffer @ truth_shift - (probe_a * probe_b).sum(axis=1)
    var_a = sum_aa - sum_a * sum_a / count
    var_b = sum_bb - sum_b * sum_b / count
    cov = sum_ab - sum_a * sum_b / count
    covered = None
    if lower is not None and upper is not None:
        inside = np.greater_equal(truth_row, lower)
        inside &= truth_row <= upper
        probe_inside = (probe_truth >= np.take_along_axis(lower, probes, axis=1)) & (
            probe_truth <= np.take_along_axis(upper, probes, axis=1)
        )
        hits = np.count_nonzero(inside, axis=1) - np.count_nonzero(probe_inside, axis=1)
        covered = np.stack([hits, np.full(n_seeds, count)], axis=1).astype(np.float64)
    results = []
    for s in range(n_seeds):
        # Below rounding of the sums a variance is zero, as the two-pass formula finds it.
        tiny = 1e-12 * max(float(sum_bb[s]), float(sum_aa[s]), 1e-300)
        denominator = (
            math.sqrt(float(var_a[s]) * float(var_b[s]))
            if var_a[s] > tiny and var_b[s] > tiny
            else 0.0
        )
        out = {
            "se": float(se[s]),
            "ae": float(ae[s]),
            "n": float(count),
            "tp": float(tp[s]),
            "fp": float(n_flagged[s] - tp[s]),
            "fn": float(n_positive[s] - tp[s]),
            "pearson": float(cov[s]) / denominator if denominator > 0 else math.nan,
        }
        out.update(_rank_metrics(samples[s], prediction[s, sample_columns[s]]))
        results.append(out)
    return results, covered


def row_metrics(
    truth: np.ndarray,
    predicted: np.ndarray,
    *,
    threshold: float,
    predicted_threshold: float,
    rank_sample: np.ndarray | None = None,
) -> dict[str, float]:
    """Per-row metrics on unrevealed entries (truth and prediction of shape (n,)).

    Returns sums for the pooled metrics (``se``, ``ae``, ``n``, ``tp``, ``fp``, ``fn``) and the
    per-row ``pearson``, ``spearman``, ``auc`` and ``precision_at_10`` (the share of the
    predicted top 10% that are in the true top 10%); rank-based ones use ``rank_sample``
    (indices into the row) when given.
    """
    return _metrics(_Truth(truth, threshold, rank_sample), predicted, predicted_threshold)


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


def _is_binary(Z: np.ndarray) -> bool:
    finite = Z[np.isfinite(Z)]
    return bool(finite.size) and bool(np.isin(finite, (0.0, 1.0)).all())


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


def _one_blas_thread(function: Any) -> Any:
    """Run ``function`` with a single-threaded BLAS.

    The protocol's linear algebra is many small calls (fold-ins, (M-1) × (M-1)
    eigendecompositions, per-row dot products); a multi-threaded BLAS on a busy machine makes each
    of them up to ~100× slower (measured on 2 shared cores), and the large products lose little.
    """
    import functools

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


@_one_blas_thread
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
        matrix (logistic ones only for binary matrices).
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

    Returns
    -------
    dict
        ``methods`` {name: {rmse, mae, pearson, spearman, f1, precision, recall, auc,
        precision_at_10, coverage_90 (methods with intervals), seconds, and ``<metric>_std``}},
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
    binary = _is_binary(Z)
    requested = (
        list(methods)
        if methods
        else list(_registry.DEFAULT_BINARY if binary else _registry.DEFAULT_CONTINUOUS)
    )
    for name in requested:
        if name not in _registry.ALL_METHODS:
            raise PredictionError(
                f"unknown method {name!r}; choose from {', '.join(_registry.ALL_METHODS)}"
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
        if name in _registry.COMPLETION:
            if _registry.make_estimator(name).binary_only and not binary:
                skipped[name] = "models binary (0/1) forgetting; this matrix is not binary"
                continue
        else:
            _, reason = _baseline(name, similarities, texts, Z.shape, seed)
            if reason:
                skipped[name] = reason
                continue
        runnable.append(name)

    n_seeds = int(seeds)
    tallies = {name: _Tally(n_seeds) for name in runnable}
    scatter = {name: ([], []) for name in runnable}
    n_test_rows = sum(len(test) for _, test in folds)
    per_row_points = max(1, math.ceil(scatter_points / max(n_test_rows, 1)))
    complete = bool(measured.all())  # then every row's metrics are fused over whole rows
    predicted_threshold = 0.5 if binary else threshold
    baselines = {name: _baseline(name, similarities, texts, Z.shape, seed)[0] for name in runnable}
    # Leave-one-task-out on a complete matrix: fold fits from shared statistics, no refits.
    shared = None
    if parse_split(split)[0] == "loo" and bool(measured.all()):
        from forgetmap.predict._loo import LeaveOneOut

        fast = [
            n
            for n in runnable
            if n in _registry.COMPLETION and LeaveOneOut.supports(_registry.make_estimator(n, seed))
        ]
        if fast or probe == "active":
            start = time.perf_counter()
            shared = LeaveOneOut(Z)
            for name in fast:
                tallies[name].seconds += (time.perf_counter() - start) / len(fast)

    def _fit_fold(name: str, train: np.ndarray, test: np.ndarray) -> Any:
        estimator = _registry.make_estimator(name, seed)
        if shared is not None and shared.supports(estimator):
            return shared.fit(estimator, int(test[0]))
        return estimator.fit(Z[train])

    for train, test in folds:
        fitted: dict[str, Any] = {}
        for name in runnable:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CompletionConvergenceWarning)
                if name in _registry.COMPLETION:
                    fitted[name] = _fit_fold(name, train, test)
                else:
                    fitted[name] = baselines[name].fit(Z[train], train)
            tallies[name].seconds += time.perf_counter() - start
        components = None
        if probe == "active":
            from forgetmap.predict._lowrank import LowRank

            factors = LowRank(rank=min(10, k), random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CompletionConvergenceWarning)
                if shared is not None:
                    components = shared.fit(factors, int(test[0])).components_
                else:
                    components = factors.fit(Z[train]).components_
        for row in test:
            columns = np.flatnonzero(measured[row])
            if probe == "random":
                probes = draw_probes(columns, k, n_seeds, seed=seed, row=int(row))
            else:
                chosen = active_probes(components, k, columns)
                probes = np.repeat(chosen[None, :], n_seeds, axis=0)
            truth_row = Z[row].astype(np.float64)
            hidden = []
            for s in range(n_seeds):
                keep = measured[row].copy()
                keep[probes[s]] = False
                hidden.append(np.flatnonzero(keep))
            rank_samples = [
                np.sort(
                    np.random.default_rng([seed, int(row), s, 1]).choice(
                        len(h), size=max_rank_entries, replace=False
                    )
                )
                if len(h) > max_rank_entries
                else None
                for s, h in enumerate(hidden)
            ]
            if complete:
                # Fused metrics over the whole row; the truth only on the rank samples.
                sample_columns = [
                    h if rank_samples[s] is None else h[rank_samples[s]]
                    for s, h in enumerate(hidden)
                ]
                truths = [_Truth(truth_row[c], threshold, None) for c in sample_columns]
            else:
                truths = [
                    _Truth(truth_row[h], threshold, rank_samples[s]) for s, h in enumerate(hidden)
                ]
            chosen_points = np.random.default_rng([seed, int(row), 2]).permutation(len(hidden[0]))[
                :per_row_points
            ]
            for name in runnable:
                estimator = fitted[name]
                start = time.perf_counter()
                lower = upper = None
                if name not in _registry.COMPLETION:
                    prediction = np.repeat(estimator.predict_tasks(np.array([row])), n_seeds, 0)
                else:
                    probe_values = truth_row[probes]
                    cols_list = list(probes)
                    values_list = list(probe_values)
                    if estimator.has_intervals:
                        prediction, lower, upper = estimator._intervals(
                            cols_list, values_list, level
                        )
                    else:
                        prediction = estimator._fold_in_many(cols_list, values_list, False)[0]
                tally = tallies[name]
                if complete:
                    per_seed, covered = _complete_row_metrics(
                        truth_row,
                        np.asarray(prediction, dtype=np.float64),
                        probes,
                        truths,
                        sample_columns,
                        threshold=threshold,
                        predicted_threshold=predicted_threshold,
                        lower=lower,
                        upper=upper,
                    )
                    for s in range(n_seeds):
                        tally.add(s, per_seed[s])
                        if covered is not None:
                            tally.covered[s] += covered[s]
                else:
                    for s in range(n_seeds):
                        h = hidden[s]
                        truth = truths[s].truth
                        tally.add(s, _metrics(truths[s], prediction[s, h], predicted_threshold))
                        if lower is not None:
                            inside = (truth >= lower[s, h]) & (truth <= upper[s, h])
                            tally.covered[s] += (inside.sum(), inside.size)
                true_points, predicted_points = scatter[name]
                true_points.extend(truth_row[hidden[0][chosen_points]].tolist())
                predicted_points.extend(prediction[0, hidden[0][chosen_points]].tolist())
                tally.seconds += time.perf_counter() - start

    return {
        "methods": {
            name: tallies[name].summary(
                with_coverage=name in _registry.COMPLETION and fitted_has_intervals(name)
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


def fitted_has_intervals(name: str) -> bool:
    """Whether the completion method ``name`` gives predictive intervals."""
    return bool(_registry.make_estimator(name).has_intervals)
