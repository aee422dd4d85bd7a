"""``analyze``: every analysis of one store's forgetting matrix, as one JSON-ready document."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap._jsonsafe import json_safe
from forgetmap.analysis._coclusters import coclusters
from forgetmap.analysis._correlate import PREFIX, similarity_correlation, stored_similarities
from forgetmap.analysis._fits import fit_report
from forgetmap.analysis._omnibus import family_tests, profile_gram
from forgetmap.analysis._patterns import benjamini_hochberg, components, group_tests, residuals
from forgetmap.analysis._statistics import TASK_FIELDS, extremes, property_correlations, spread
from forgetmap.errors import AnalysisError

if TYPE_CHECKING:
    import pandas as pd

    from forgetmap.store import ForgettingStore

__all__ = ["DEFAULT_RANK", "analyze"]

Labels = tuple[np.ndarray, list[str]]

DEFAULT_RANK = 10
#: Most co-clusters reported when none are asked (fewer for a matrix with fewer tasks or
#: examples).
DEFAULT_CLUSTERS = 5
#: A metadata column is a default grouping field when it has 2..MAX_LEVELS distinct values.
MAX_LEVELS = 50
#: A grouping field named explicitly may have at most this many distinct values.
MAX_EXPLICIT_LEVELS = 1000
#: Numeric fields with more distinct values than this are grouped by quartile.
NUMERIC_LEVELS = 20
#: Columns never used as default grouping fields.
NOT_GROUPS = {"text", "finished"}


def analyze(
    store: ForgettingStore,
    *,
    rank: int | None = None,
    metric: str | None = None,
    group_fields: Sequence[str] | None = None,
    drop_empty: bool = False,
    top_q: float = 0.1,
    fdr: float = 0.05,
    n_clusters: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Analyse the finished rows of a store; returns the ``forgetmap analyze`` document.

    Parameters
    ----------
    store : ForgettingStore
    rank : int, optional
        Largest rank K of the truncated fits; ``None`` means ``min(10, min(M, N) − 1)``. Must be
        below ``min(n_tasks, n_examples)``.
    metric : str, optional
        Forgetting metric (default: the store's primary one).
    group_fields : sequence of str, optional
        Task or example table columns to group by; default: every text-like column with 2 to
        50 distinct values (``text`` excluded). A field in both tables is tested on both axes.
    drop_empty : bool
        Leave out tasks and examples with no measured entry instead of refusing them.
    top_q : float
        Share of most forgotten items (by mean) used by the over-representation test.
    fdr : float
        False-discovery rate at which a group is flagged ``significant``, and at which every
        member of a co-cluster is admitted (Benjamini–Hochberg).
    n_clusters : int, optional
        Most co-clusters (blocks of significantly raised residual) reported, from 2 to the
        number of tasks (and of examples); ``None`` means 5, or fewer for a smaller matrix.
        Fewer, or none, are reported when no further block is significant.
    seed : int
        Seeds the randomized SVD, masked fits, permutation tests, co-clusters and sampling.

    Returns
    -------
    dict
        Keys ``shape``, ``settings``, ``fits``, ``rank_r2``, ``singular_values``,
        ``components``, ``residuals``, ``groups``, ``coclusters``, ``statistics``, ``tasks``,
        ``most_forgotten``, ``least_forgotten``, ``correlations``, ``seconds``; every float is
        finite or ``None`` (see the README for the schema).
    """
    started = time.perf_counter()
    if not 0 < top_q < 1:
        raise AnalysisError(f"top-q must lie strictly between 0 and 1, got {top_q}")
    if not 0 < fdr < 1:
        raise AnalysisError(
            f"the false-discovery rate must lie strictly between 0 and 1, got {fdr}"
        )
    metric = metric or store.metrics[0]
    if metric not in store.metrics:
        raise AnalysisError(f"unknown metric {metric!r}; the store has {list(store.metrics)}")
    finished = store.finished_mask()
    if finished.sum() < 2:
        raise AnalysisError(
            f"store {str(store.path)!r} has {int(finished.sum())} finished task row(s); "
            "the analysis needs at least 2"
        )
    values = store.forgetting(metric, finished_only=True)  # (M, N)
    task_rows = np.flatnonzero(finished)
    task_ids = [store.task_ids[i] for i in task_rows]
    examples = store.examples()
    example_ids = examples.index.to_numpy(dtype=object)  # fast for a million ids
    values, kept_tasks, kept_examples, dropped = _empty(values, task_ids, example_ids, drop_empty)
    task_ids = [task_ids[i] for i in kept_tasks]
    example_ids = example_ids[kept_examples]
    m, n = values.shape
    if m < 2 or n < 2:
        raise AnalysisError(
            f"after leaving out empty rows and columns {m} task(s) × {n} example(s) remain; "
            "the analysis needs at least 2 × 2"
        )
    if rank is None:
        rank = min(DEFAULT_RANK, min(m, n) - 1)
    if not 1 <= rank < min(m, n):
        raise AnalysisError(
            f"--rank {rank} must be at least 1 and below min(tasks, examples) = {min(m, n)}"
        )
    most_clusters = min(m, n)
    if n_clusters is None:
        n_clusters = max(2, min(DEFAULT_CLUSTERS, most_clusters))
    elif not 2 <= n_clusters <= most_clusters:
        raise AnalysisError(
            f"{n_clusters} co-clusters asked of {m} task(s) × {n} example(s); ask for 2 to "
            f"{most_clusters} (no more than the tasks or the examples)"
        )
    tasks = store.tasks().iloc[task_rows].iloc[kept_tasks]
    examples = examples.iloc[kept_examples]
    task_labels, example_labels = _group_labels(tasks, examples, group_fields)

    report = fit_report(values, rank, seed=seed)
    resid = residuals(values, report.rank1)
    spreads = spread(report)
    rng = np.random.default_rng(seed)
    gram = profile_gram(values, spreads.task_mean, spreads.example_mean, spreads.mean)
    groups = family_tests(task_labels, spreads.task_mean, gram, rng)
    groups += group_tests(
        "tasks", task_labels, spreads.task_mean, resid.task_mean, top_q=top_q, rng=rng
    ) + group_tests(
        "examples", example_labels, spreads.example_mean, resid.example_mean, top_q=top_q, rng=rng
    )
    for row, q in zip(groups, benjamini_hochberg([g["p_value"] for g in groups]), strict=True):
        row["q_value"] = float(q)
        row["significant"] = bool(q <= fdr)
    groups.sort(key=lambda row: (row["q_value"], row["p_value"]))
    clusters = coclusters(
        values, report.rank1, task_ids, example_ids, fdr=fdr, max_clusters=n_clusters, seed=seed
    )

    texts = examples["text"].tolist() if "text" in examples.columns else None
    example_properties = {}
    if store.has_scores and store.has_before():
        example_properties["before_score"] = np.asarray(store.before(metric))[kept_examples]
    if "n_tokens" in examples.columns:
        example_properties["n_tokens"] = _numeric(examples["n_tokens"])
    task_properties = {name: _numeric(tasks[name]) for name in TASK_FIELDS if name in tasks.columns}
    correlations = property_correlations(
        spreads.example_mean, spreads.task_mean, example_properties, task_properties
    )
    for kind in stored_similarities(store.path / "artifacts"):
        similarity = store.load_array(PREFIX + kind)
        if similarity is not None and similarity.ndim == 2 and similarity.shape == store.shape:
            similarity = similarity[task_rows][kept_tasks][:, kept_examples]
        correlations[kind] = similarity_correlation(values, similarity, kind, seed=seed)

    group_of = tasks["group"].tolist() if "group" in tasks.columns else [None] * m
    document = {
        "store": str(store.path),
        "metric": metric,
        "shape": [m, n],
        "settings": {
            "rank": rank,
            "top_q": top_q,
            "fdr": fdr,
            "n_clusters": n_clusters,
            "seed": seed,
            "drop_empty": drop_empty,
            "dropped_tasks": dropped["tasks"],
            "dropped_examples": dropped["examples"],
            "svd": report.method,
            "group_fields": {"tasks": list(task_labels), "examples": list(example_labels)},
        },
        "fits": report.r2,
        "rank_r2": {str(k): v for k, v in report.rank_r2.items()},
        "singular_values": report.singular_values.tolist(),
        "components": components(report.fit, task_ids, example_ids),
        "residuals": {
            "mean": resid.mean,
            "std": resid.std,
            "largest": [
                {"task": task_ids[i], "example": example_ids[j], "residual": v}
                for v, i, j in resid.top
            ],
        },
        "groups": groups,
        "coclusters": clusters,
        "statistics": {
            "measured": spreads.n_measured,
            "share_measured": spreads.n_measured / (m * n),
            "share_forgotten": spreads.n_forgotten / spreads.n_measured,
            "mean": spreads.mean,
            "std": spreads.std,
            "example_mean_quantiles": _quantiles(spreads.example_mean),
            "task_mean_quantiles": _quantiles(spreads.task_mean),
        },
        "tasks": [
            {
                "id": task_ids[i],
                "group": None if group_of[i] is None else str(group_of[i]),
                "mean": spreads.task_mean[i],
                "std": spreads.task_std[i],
                "measured": int(spreads.task_n[i]),
                "mean_residual": resid.task_mean[i],
                "loading": report.rank1.task_factors[i, 0] * report.rank1.singular_values[0],
            }
            for i in range(m)
        ],
        "most_forgotten": extremes(spreads.example_mean, example_ids, texts, most=True),
        "least_forgotten": extremes(spreads.example_mean, example_ids, texts, most=False),
        "correlations": correlations,
    }
    document["seconds"] = time.perf_counter() - started
    return json_safe(document)


def _empty(
    values: np.ndarray, task_ids: Sequence[str], example_ids: Sequence[str], drop: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, list[str]]]:
    """Find tasks and examples without any measured entry; refuse them or leave them out."""
    finite = np.isfinite(values)
    row_ok, col_ok = finite.any(axis=1), finite.any(axis=0)
    del finite
    bad_rows, bad_cols = np.flatnonzero(~row_ok), np.flatnonzero(~col_ok)
    dropped = {
        "tasks": [task_ids[i] for i in bad_rows],
        "examples": [example_ids[j] for j in bad_cols],
    }
    if (bad_rows.size or bad_cols.size) and not drop:
        parts = []
        for what, ids in (("task", dropped["tasks"]), ("example", dropped["examples"])):
            if ids:
                shown = ", ".join(repr(i) for i in ids[:5])
                more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
                parts.append(f"{len(ids)} {what}(s) ({shown}{more})")
        raise AnalysisError(
            f"{' and '.join(parts)} have no measured entry; pass --drop-empty to leave them out"
        )
    kept_rows, kept_cols = np.flatnonzero(row_ok), np.flatnonzero(col_ok)
    if bad_rows.size or bad_cols.size:
        values = values[np.ix_(kept_rows, kept_cols)]
    return values, kept_rows, kept_cols, dropped


def _group_labels(
    tasks: pd.DataFrame, examples: pd.DataFrame, fields: Sequence[str] | None
) -> tuple[dict[str, Labels], dict[str, Labels]]:
    """The grouping labels of each axis: {field: label of each task (or example)}."""
    tables = {"tasks": tasks, "examples": examples}
    chosen: dict[str, dict[str, Labels]] = {"tasks": {}, "examples": {}}
    if fields is None:
        for axis, table in tables.items():
            for column in table.columns:
                if column in NOT_GROUPS or table[column].dtype.kind in "fiuc":
                    continue
                codes, names = _labels(table[column])
                if 2 <= len(names) <= min(MAX_LEVELS, len(table) - 1):
                    chosen[axis][column] = (codes, names)
        return chosen["tasks"], chosen["examples"]
    for field in fields:
        found = [axis for axis, table in tables.items() if field in table.columns]
        if not found:
            available = sorted({c for t in tables.values() for c in t.columns} - {"finished"})
            raise AnalysisError(
                f"unknown grouping field {field!r}; the task and example tables have "
                f"{available or 'no columns'}"
            )
        for axis in found:
            column = tables[axis][field]
            if column.dtype.kind in "fiu" and column.nunique() > NUMERIC_LEVELS:
                chosen[axis][field] = _quartiles(column)
                continue
            codes, names = _labels(column)
            if len(names) > MAX_EXPLICIT_LEVELS:
                raise AnalysisError(
                    f"grouping field {field!r} has {len(names)} distinct values on the "
                    f"{axis} axis (at most {MAX_EXPLICIT_LEVELS}); group by a coarser field"
                )
            chosen[axis][field] = (codes, names)
    return chosen["tasks"], chosen["examples"]


def _labels(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a column's values and the value names; missing values are named."""
    import pandas as pd

    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    names = [str(value) for value in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append("(missing)")
    return codes, names


def _quartiles(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes and names ``Q1 (lo, hi]`` .. ``Q4`` of a numeric column's quartiles."""
    import pandas as pd

    binned = pd.qcut(column.astype(float), 4, duplicates="drop")
    codes = binned.cat.codes.to_numpy()
    names = [f"Q{i + 1} {interval}" for i, interval in enumerate(binned.cat.categories)]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names.append("(missing)")
    return codes, names


def _numeric(column: pd.Series) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {}
    points = np.quantile(finite, [0.0, 0.1, 0.5, 0.9, 1.0])
    return dict(zip(["min", "p10", "median", "p90", "max"], points.tolist(), strict=True))
