"""forgetmap's completion methods against the reference implementation on the zoo of real matrices.

The zoo (``benchmarks/data/zoo/NAME.csv``, each collected by forgetmap from ``NAME.toml`` on the
bundled model; see that folder's README) holds real forgetting matrices that differ in structure:
code + documentation upstream with LoRA, the same with full fine-tuning, chat upstream,
documentation upstream with a lighter adapter.

For every matrix, held-out task and seed (leave-one-task-out, k = 30 random probes, 10 seeds; the
probes :func:`forgetmap.predict.draw_probes` gives ``evaluate``), on the same masks in the same run:

- forgetmap: each method fitted on the other tasks, then the row predicted from its probes;
- the reference, as the paper's code runs scikit-surprise: (task, example, value) triples built
  from the matrix, one refit per held-out task and seed of BaselineOnly and KNNBaseline (1000 SGD
  epochs of baselines, pearson_baseline similarity) and SVD (5 factors, lr 0.005, no
  regularisation, 1000 epochs) on the other tasks' triples plus the row's probes.

RMSE and F1 (forgotten = forgetting > 0) are pooled over every unprobed entry of every
(task, seed). Targets (issue #13): forgetmap's best method >= 3% lower RMSE than the reference's
best, F1 at least equal, and forgetmap's whole ``evaluate`` >= 1000x faster than the reference's
refits of the same folds and seeds. ``auto`` is printed on its own line: it is the method a user
gets by default, chosen inside each fold without looking at the held-out row.

Before fine-tuning (k = 0), where ``NAME.tasks.json`` holds the tasks' training texts: the
similarity prior (:class:`forgetmap.predict.SimilarityPrior`, TF-IDF and embedding similarity of
the training data, its setting chosen inside each fold) against the column means, leave one
task out.

Run: ``python -m benchmarks zoo`` or ``python benchmarks/bench_zoo.py [NAME ...]``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_predict import _surprise_models, _surprise_row
from forgetmap.io import read_matrix
from forgetmap.predict import draw_probes, evaluate, make_estimator

ZOO = Path(__file__).parent / "data" / "zoo"
K = 30
SEEDS = 10
OURS = [
    "mean",
    "additive",
    "knn",
    "lowrank",
    "additive_tuned",
    "knn_tuned",
    "lowrank_tuned",
    "auto",
]


class _Pooled:
    """Squared error and the confusion counts of 'forgotten' over many rows."""

    def __init__(self) -> None:
        self.se = self.n = self.tp = self.fp = self.fn = 0.0

    def add(self, predicted: np.ndarray, truth: np.ndarray) -> None:
        self.se += float(((predicted - truth) ** 2).sum())
        self.n += truth.size
        self.tp += float(((predicted > 0) & (truth > 0)).sum())
        self.fp += float(((predicted > 0) & (truth <= 0)).sum())
        self.fn += float(((predicted <= 0) & (truth > 0)).sum())

    @property
    def rmse(self) -> float:
        return float(np.sqrt(self.se / self.n))

    @property
    def f1(self) -> float:
        return float(2 * self.tp / max(2 * self.tp + self.fp + self.fn, 1.0))


def compare(name: str, Z: np.ndarray) -> dict[str, dict[str, float]]:
    """Both sides on every (held-out task, seed) of one matrix; prints a table and the ratios."""
    n_tasks = Z.shape[0]
    print(f"-- {name}: {n_tasks} × {Z.shape[1]}, k={K}, {SEEDS} seeds, leave-one-task-out")
    start = time.perf_counter()
    evaluate(Z, methods=OURS, k=K, seeds=SEEDS)
    ours_seconds = time.perf_counter() - start
    models = _surprise_models()
    pooled = {method: _Pooled() for method in [*OURS, *models]}
    reference_seconds = 0.0
    for row in range(n_tasks):
        train = np.setdiff1d(np.arange(n_tasks), [row])
        fitted = {method: make_estimator(method, 0).fit(Z[train]) for method in OURS}
        measured = np.flatnonzero(np.isfinite(Z[row]))
        for probes in draw_probes(measured, K, SEEDS, seed=0, row=row):
            hidden = np.setdiff1d(measured, probes)
            truth = Z[row, hidden].astype(np.float64)
            for method, estimator in fitted.items():
                pooled[method].add(estimator.predict_row(probes, Z[row, probes])[hidden], truth)
            for method, make in models.items():
                t0 = time.perf_counter()
                predicted = _surprise_row(Z, row, probes, make())
                reference_seconds += time.perf_counter() - t0
                pooled[method].add(predicted[hidden], truth)
    for method, result in pooled.items():
        side = "reference" if method in models else "forgetmap"
        print(f"  {side:>9} {method:<15} RMSE {result.rmse:.4f}  F1 {result.f1:.3f}")
    ours_best = min(OURS, key=lambda m: pooled[m].rmse)
    theirs_best = min(models, key=lambda m: pooled[m].rmse)
    for label, method in (("best", ours_best), ("auto", "auto")):
        gain = 1 - pooled[method].rmse / pooled[theirs_best].rmse
        print(
            f"  {label} forgetmap ({method}) vs best reference ({theirs_best}): RMSE "
            f"{gain:+.1%} lower (target >= 3%), F1 {pooled[method].f1:.3f} vs "
            f"{pooled[theirs_best].f1:.3f}"
        )
    print(
        f"  time: forgetmap evaluate ({len(OURS)} methods) {ours_seconds:.2f} s, reference "
        f"refits {reference_seconds:.0f} s: {reference_seconds / ours_seconds:.0f}× "
        f"(target >= 1000×)",
        flush=True,
    )
    return {method: {"rmse": r.rmse, "f1": r.f1} for method, r in pooled.items()}


def before_finetuning(name: str, Z: np.ndarray, task_texts: list[list[str]]) -> None:
    """Leave-one-task-out of the k = 0 prior against the column means, all entries scored."""
    from forgetmap.predict import SimilarityPrior
    from forgetmap.similarity import task_similarity

    start = time.perf_counter()
    similarities = {
        kind: task_similarity(task_texts, task_texts, kind) for kind in ("tfidf", "embedding")
    }
    prior_se = means_se = 0.0
    chosen = []
    for row in range(Z.shape[0]):
        train = np.delete(np.arange(Z.shape[0]), row)
        prior = SimilarityPrior().fit(
            Z[train], {kind: S[np.ix_(train, train)] for kind, S in similarities.items()}
        )
        predicted = prior.predict({kind: S[row, train] for kind, S in similarities.items()})
        prior_se += float(np.nansum((predicted - Z[row]) ** 2))
        means_se += float(np.nansum((np.nanmean(Z[train], axis=0) - Z[row]) ** 2))
        chosen.append(f"{prior.kind_}@{prior.temperature_:g}")
    n = np.isfinite(Z).sum()
    prior_rmse, means_rmse = np.sqrt(prior_se / n), np.sqrt(means_se / n)
    print(
        f"  k = 0 (before fine-tuning): similarity prior RMSE {prior_rmse:.4f} vs column means "
        f"{means_rmse:.4f} ({1 - prior_rmse / means_rmse:+.1%}); chosen per fold: "
        f"{', '.join(sorted(set(chosen)))}; {time.perf_counter() - start:.1f} s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    names = list(argv or []) or sorted(path.stem for path in ZOO.glob("*.csv"))
    try:
        _surprise_models()
    except ImportError:
        print("scikit-surprise is not installed (pip install scikit-surprise): zoo skipped")
        return
    for name in names:
        matrix = read_matrix(ZOO / f"{name}.csv")
        values = np.asarray(matrix.values, dtype=np.float64)
        compare(name, values)
        texts = ZOO / f"{name}.tasks.json"
        if texts.exists():
            kept = json.loads(texts.read_text())
            before_finetuning(name, values, [kept[task] for task in matrix.task_ids])


if __name__ == "__main__":
    main(sys.argv[1:])
