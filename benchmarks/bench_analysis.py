"""Analysis at scale: ``analyze`` on a 100 × 1,000,000 float32 store (target ≤ 60 s, ≤ 4 GB).

Everything ``forgetmap analyze`` does runs: R² of the row, column, additive and rank-1..10 fits,
the singular spectrum, residual statistics, group tests on task groups and 20 example sources,
co-clusters and the per-example statistics. The analysis runs in a fresh subprocess so that its
peak resident memory (``ru_maxrss``) is its own, imports included. Reference, in another fresh
subprocess on the same matrix: ``np.linalg.svd(X, full_matrices=False)`` (LAPACK, float32), the
textbook way to get the spectrum alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from forgetmap.store import create_store

TARGET_SECONDS = 60.0
TARGET_GB = 4.0

_CHILD = """
import json, resource, sys, time
import numpy as np
from forgetmap.store import open_store
start = time.perf_counter()
store = open_store(sys.argv[2])
if sys.argv[1] == "analyze":
    from forgetmap.analysis import analyze
    document = analyze(store, rank=10, seed=0)
    store.save_json("analysis", document)
    extra = {"r2": document["fits"], "rank10": document["rank_r2"]["10"],
             "groups": len(document["groups"]), "svd": document["settings"]["svd"]}
else:
    values = store.forgetting()
    s = np.linalg.svd(values, full_matrices=False, compute_uv=True)[1]
    extra = {"sigma1": float(s[0])}
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"seconds": seconds, "peak_gb": peak, **extra}))
"""


def _child(mode: str, run: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(run)], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def build_store(path: Path, n_tasks: int, n_examples: int) -> None:
    """A rank-3 matrix with noise and a block of extra forgetting, with task and example tables."""
    rng = np.random.default_rng(0)
    values = np.outer(rng.gamma(2.0, 0.2, n_tasks), rng.gamma(2.0, 0.2, n_examples))
    values = values.astype(np.float32)
    for _ in range(2):
        values += 0.05 * np.outer(
            rng.standard_normal(n_tasks, dtype=np.float32),
            rng.standard_normal(n_examples, dtype=np.float32),
        )
    values += rng.standard_normal(values.shape, dtype=np.float32) * np.float32(0.02)
    values[: n_tasks // 10, : n_examples // 100] += np.float32(0.3)
    sources = np.array([f"source{k:02d}" for k in range(20)])
    create_store(
        path,
        [f"task{i:03d}" for i in range(n_tasks)],
        [f"ex{j:07d}" for j in range(n_examples)],
        task_table={"group": [f"g{i % 5}" for i in range(n_tasks)]},
        example_table={
            "source": sources[rng.integers(0, 20, n_examples)],
            "n_tokens": rng.integers(8, 256, n_examples),
        },
        forgetting=values,
        kind="imported",
    )


def main(n_tasks: int = 100, n_examples: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        build_store(run, n_tasks, n_examples)
        ours = _child("analyze", run)
        reference = _child("svd", run)
    print(f"matrix {n_tasks} × {n_examples} float32, rank ≤ 10, spectrum via {ours['svd']}")
    print(
        f"analyze      {ours['seconds']:6.1f} s   peak {ours['peak_gb']:.2f} GB   "
        f"(targets ≤ {TARGET_SECONDS:.0f} s, ≤ {TARGET_GB:.0f} GB)"
    )
    print(
        f"np.linalg.svd {reference['seconds']:5.1f} s   peak {reference['peak_gb']:.2f} GB   "
        f"(spectrum only; analyze/svd time ratio {ours['seconds'] / reference['seconds']:.2f})"
    )
    fits = ", ".join(f"{k} {v:.4f}" for k, v in ours["r2"].items())
    print(f"R²: {fits}, rank 10 {ours['rank10']:.4f}; {ours['groups']} group tests")
    ok = ours["seconds"] <= TARGET_SECONDS and ours["peak_gb"] <= TARGET_GB
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
