"""Prediction of held-out tasks: forgetmap's evaluation against scikit-surprise, and at scale.

1. Reference comparison (66 × 10,000 low rank + noise; optionally a store given as argument):
   scikit-surprise used as the reference implementation does — (task, example, value) triples
   built from the matrix, and for every held-out task a full refit of BaselineOnly and
   KNNBaseline (1000 SGD epochs of baselines) and SVD (5 factors, 1000 epochs) on the training
   tasks' triples plus the held-out task's k probes. Same matrix, same probe masks, same run.
   The reference is timed on a subset of held-out (task, seed) pairs and extrapolated per pair
   (printed as such); forgetmap runs the full leave-one-task-out evaluation.
2. Scale: 100 × 1,000,000, every completion method, 10 seeds, leave-one-task-out: time and peak
   memory (targets: <= 60 s, <= 4 GB), on every CPU and on one thread. The reference in the
   same run is the protocol without forgetmap's shortcuts: each fold refitted on its training
   tasks, each seed's prediction and interval made whole, metrics on gathered unrevealed
   entries; it is timed on a few held-out tasks and extrapolated to all of them.

Run: ``python -m benchmarks predict`` (with the demo's ``runs/quickstart`` store when it
exists), or ``python benchmarks/bench_predict.py [STORE ...] [--no-scale]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from benchmarks._measure import peak_rss_gb
from forgetmap.predict import draw_probes, evaluate, make_estimator
from forgetmap.predict.protocol import row_metrics

K = 30
SEEDS = 10
PAIRS = {"additive": "BaselineOnly", "knn": "KNNBaseline", "lowrank": "SVD"}


def low_rank_matrix(
    n_tasks: int,
    n_examples: int,
    rank: int = 5,
    noise: float = 0.1,
    seed: int = 0,
    block: int = 65_536,
) -> np.ndarray:
    """A task × example matrix of rank ``rank`` plus Gaussian noise (float32).

    Made in column blocks, so making it never holds more than the float32 matrix and one
    block in float64 (the peak memory measured afterwards is the evaluation's).
    """
    rng = np.random.default_rng(seed)
    tasks = rng.normal(size=(n_tasks, rank)) * np.linspace(1.0, 0.3, rank)
    values = np.empty((n_tasks, n_examples), dtype=np.float32)
    for start in range(0, n_examples, block):
        stop = min(start + block, n_examples)
        examples = rng.normal(size=(rank, stop - start))
        values[:, start:stop] = (
            tasks @ examples + 0.5 + noise * rng.normal(size=(n_tasks, stop - start))
        )
    return values


def _surprise_models():
    from surprise import SVD, BaselineOnly, KNNBaseline

    baselines = {"method": "sgd", "n_epochs": 1000}
    return {
        "BaselineOnly": lambda: BaselineOnly(bsl_options=baselines, verbose=False),
        "KNNBaseline": lambda: KNNBaseline(
            bsl_options=baselines, sim_options={"name": "pearson_baseline"}, verbose=False
        ),
        "SVD": lambda: SVD(n_factors=5, lr_all=0.005, reg_all=0.0, n_epochs=1000, random_state=0),
    }


def _surprise_row(Z: np.ndarray, row: int, probes: np.ndarray, model) -> np.ndarray:
    """Refit a surprise model on all other tasks plus the row's probes; predict the row."""
    import pandas as pd
    from surprise import Dataset, Reader

    rows, cols = np.nonzero(np.isfinite(Z))
    keep = (rows != row) | np.isin(cols, probes)
    frame = pd.DataFrame(
        {"task": rows[keep], "example": cols[keep], "value": Z[rows[keep], cols[keep]]}
    )
    low, high = float(np.nanmin(Z)), float(np.nanmax(Z))
    data = Dataset.load_from_df(frame, Reader(rating_scale=(low, high)))
    model.fit(data.build_full_trainset())
    return np.array([model.predict(row, j, clip=False).est for j in range(Z.shape[1])])


def reference_comparison(Z: np.ndarray, label: str, reference_pairs: int = 1) -> None:
    """forgetmap LOO evaluation vs surprise refits on the same masks; prints RMSE and speed.

    The reference is timed on every (task, seed) pair when there are at most 100 of them (a
    store like the quickstart's), else on the first ``reference_pairs`` and extrapolated.
    """
    n_tasks = Z.shape[0]
    print(f"-- {label}: {Z.shape[0]} × {Z.shape[1]}, k={K}, {SEEDS} seeds, leave-one-task-out")
    start = time.perf_counter()
    document = evaluate(Z, methods=list(PAIRS), k=K, seeds=SEEDS)
    ours_total = time.perf_counter() - start
    per_pair = ours_total / (n_tasks * SEEDS)
    print(
        f"forgetmap: full evaluation {ours_total:.2f} s = {per_pair * 1e3:.2f} ms per (task, seed)"
    )
    try:
        models = _surprise_models()
    except ImportError:
        print("scikit-surprise is not installed: reference skipped")
        return
    # The same masks: draw_probes is what evaluate uses for (seed 0, row, repetition).
    if n_tasks * SEEDS <= 100:
        pairs = [(row, repetition) for row in range(n_tasks) for repetition in range(SEEDS)]
    else:
        pairs = [(row, 0) for row in range(min(reference_pairs, n_tasks))]
    print(f"reference timed on {len(pairs)} held-out (task, seed) pair(s) of {n_tasks * SEEDS}")
    for ours, theirs in PAIRS.items():
        seconds, ref_se, our_se, count = 0.0, 0.0, 0.0, 0
        for row, repetition in pairs:
            measured = np.flatnonzero(np.isfinite(Z[row]))
            probes = draw_probes(measured, K, SEEDS, seed=0, row=row)[repetition]
            hidden = np.setdiff1d(measured, probes)
            t0 = time.perf_counter()
            predicted = _surprise_row(Z, row, probes, models[theirs]())
            seconds += time.perf_counter() - t0
            train = np.setdiff1d(np.arange(n_tasks), [row])
            mine = make_estimator(ours).fit(Z[train]).predict_row(probes, Z[row, probes])
            truth = Z[row, hidden].astype(np.float64)
            ref_se += float(((predicted[hidden] - truth) ** 2).sum())
            our_se += float(((mine[hidden] - truth) ** 2).sum())
            count += hidden.size
        ref_per_pair = seconds / len(pairs)
        ref_total = ref_per_pair * n_tasks * SEEDS
        own = document["methods"][ours]["seconds"]
        print(
            f"{ours:>9} vs {theirs:<12} RMSE {np.sqrt(our_se / count):.5f} vs "
            f"{np.sqrt(ref_se / count):.5f} on the same pairs "
            f"(full-run forgetmap RMSE {document['methods'][ours]['rmse']:.4f}); reference "
            f"{ref_per_pair:.2f} s per pair -> {ref_total:.0f} s for all; speed-up "
            f"{ref_total / ours_total:.0f}× over the whole forgetmap evaluation (3 methods), "
            f"{ref_total / own:.0f}× over the method's own {own:.2f} s"
        )


SCALE_METHODS = ["mean", "additive", "multiplicative", "lowrank", "knn"]


def refit_reference(Z: np.ndarray, rows: list[int], level: float = 0.9) -> tuple[float, dict]:
    """Seconds per held-out task of the protocol without shortcuts; RMSE and coverage there.

    For each held-out task: every method refitted on the other tasks, each seed's prediction
    and interval made whole (``predict_interval``), metrics on the gathered unrevealed entries
    (``row_metrics``) — the same probes as :func:`evaluate` draws.
    """
    n_tasks, n = Z.shape
    sums = {name: np.zeros(3) for name in SCALE_METHODS}  # squared error, covered, count
    start = time.perf_counter()
    for row in rows:
        train = np.setdiff1d(np.arange(n_tasks), [row])
        probes = draw_probes(np.arange(n), K, SEEDS, seed=0, row=row)
        truth_row = Z[row].astype(np.float64)
        for name in SCALE_METHODS:
            estimator = make_estimator(name, 0).fit(Z[train])
            for probe in probes:
                prediction, lower, upper = estimator.predict_interval(
                    probe, truth_row[probe], level=level
                )
                hidden = np.setdiff1d(np.arange(n), probe)
                truth = truth_row[hidden]
                metrics = row_metrics(
                    truth, prediction[hidden], threshold=0.0, predicted_threshold=0.0
                )
                inside = (truth >= lower[hidden]) & (truth <= upper[hidden])
                sums[name] += (metrics["se"], inside.sum(), metrics["n"])
    seconds = (time.perf_counter() - start) / len(rows)
    return seconds, {
        name: (float(np.sqrt(se / count)), float(covered / count))
        for name, (se, covered, count) in sums.items()
    }


def scale(n_tasks: int = 100, n_examples: int = 1_000_000, reference_rows: int = 2) -> None:
    """Every completion method, 10 seeds, leave-one-task-out on a 100 × 1,000,000 matrix."""
    Z = low_rank_matrix(n_tasks, n_examples, seed=1)
    print(f"-- scale: {n_tasks} × {n_examples:,} float32, {SCALE_METHODS}, {SEEDS} seeds, LOO")
    runs = {}
    for label, threads in (("every CPU", None), ("one thread", 1)):
        start, cpu = time.perf_counter(), time.process_time()
        document = evaluate(Z, methods=SCALE_METHODS, k=K, seeds=SEEDS, threads=threads)
        runs[label] = time.perf_counter() - start
        print(
            f"forgetmap, {label}: {runs[label]:.1f} s wall, "
            f"{time.process_time() - cpu:.1f} s CPU (target <= 60 s)"
        )
    for name in SCALE_METHODS:
        result = document["methods"][name]
        print(
            f"{name:>15}: rmse {result['rmse']:.4f}  coverage_90 {result['coverage_90']:.3f}  "
            f"{result['seconds']:.1f} s"
        )
    print(f"peak memory {peak_rss_gb():.2f} GB (target <= 4 GB)")
    rows = list(range(reference_rows))
    per_row, reference_rmse = refit_reference(Z, rows)
    total = per_row * n_tasks
    print(
        f"reference (refit per fold, whole predictions, gathered metrics) on {len(rows)} "
        f"held-out task(s): {per_row:.1f} s per task -> {total:.0f} s extrapolated to "
        f"{n_tasks}; there RMSE / coverage_90: "
        + ", ".join(
            f"{name} {rmse:.4f} / {cov:.3f}" for name, (rmse, cov) in reference_rmse.items()
        )
    )
    for label, seconds in runs.items():
        print(f"speed-up over the reference, {label}: {total / seconds:.1f}×")
    print(f"peak memory with the reference {peak_rss_gb():.2f} GB")


QUICKSTART = "runs/quickstart"  # the demo's store (`make demo`), compared too when present


def main(argv: list[str] | None = None) -> None:
    from pathlib import Path

    args = list(argv or [])
    paths = [a for a in args if not a.startswith("--")]
    if not paths and Path(QUICKSTART).is_dir():
        paths = [QUICKSTART]
    elif not paths:
        print(f"(no {QUICKSTART}: run `make demo` to compare on the quickstart store too)")
    reference_comparison(low_rank_matrix(66, 10_000), "66 × 10,000 low rank + noise")
    for path in paths:
        from forgetmap.store import open_store

        store = open_store(path)
        reference_comparison(store.forgetting(finished_only=True), f"store {path}")
    if "--no-scale" not in args:
        scale()


if __name__ == "__main__":
    main(sys.argv[1:])
