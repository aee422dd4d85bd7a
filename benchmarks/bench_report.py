"""Report at scale: the page of a 100 × 1,000,000 store stays under 20 MB.

The analysis is computed first and stored, as ``forgetmap analyze`` does, so the timing is the
report's own work (reading the matrix, choosing the shown cells, the rank-1 and rank-2 fits for
the panels and orderings, writing the page). Reference in the same run: reading the matrix.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks._measure import peak_rss_gb, timed
from forgetmap.store import create_store

SIZE_LIMIT = 20 * 1024**2


def main(n_tasks: int = 100, n_examples: int = 1_000_000) -> None:
    from forgetmap.analysis import analyze
    from forgetmap.report import write_report

    rng = np.random.default_rng(0)
    matrix = np.outer(rng.gamma(2.0, 0.2, n_tasks), rng.gamma(2.0, 0.2, n_examples))
    matrix = (matrix + 0.05 * rng.standard_normal(matrix.shape)).astype(np.float32)
    texts = [
        f"upstream example {j}: " + "lorem ipsum dolor sit amet " * 4 for j in range(n_examples)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = create_store(
            Path(tmp) / "run",
            [f"task{i}" for i in range(n_tasks)],
            [f"ex{j}" for j in range(n_examples)],
            task_table={"group": [f"g{i % 4}" for i in range(n_tasks)]},
            example_table={"source": [f"s{j % 7}" for j in range(n_examples)], "text": texts},
            kind="imported",
            forgetting=matrix,
        )
        del matrix, texts
        analyze_s, document = timed(lambda: analyze(store, rank=10))
        store.save_json("analysis", document)
        read_s, _ = timed(store.forgetting)
        out = Path(tmp) / "report.html"
        report_s, _ = timed(lambda: write_report(store, out))
        size = out.stat().st_size
    print(f"matrix {n_tasks} × {n_examples} float32, analysis stored first ({analyze_s:.1f} s)")
    print(
        f"report  {report_s:6.2f} s   (reading the matrix {read_s:.2f} s, ratio "
        f"{report_s / read_s:.1f}×)"
    )
    print(
        f"page    {size / 1024**2:6.2f} MB  (limit {SIZE_LIMIT / 1024**2:.0f} MB: "
        f"{'ok' if size < SIZE_LIMIT else 'OVER'})"
    )
    print(f"peak memory {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
