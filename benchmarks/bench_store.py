"""Store at scale: import a 100 × 1,000,000 float32 matrix, read it back, write one row.

Reference: ``np.save`` / ``np.load`` of the same matrix (the floor for any on-disk format).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from benchmarks._measure import peak_rss_gb, timed
from forgetmap.io import import_matrix


def main(n_tasks: int = 100, n_examples: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    matrix = (rng.gamma(2.0, 0.2, (n_tasks, 1)) * rng.gamma(2.0, 0.2, (1, n_examples))).astype(
        np.float32
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "m.npy"
        np.save(source, matrix)
        save_s, _ = timed(lambda: np.save(Path(tmp) / "ref.npy", matrix))
        load_s, _ = timed(lambda: np.load(Path(tmp) / "ref.npy"))
        import_s, store = timed(lambda: import_matrix(source, Path(tmp) / "run"))
        read_s, values = timed(store.forgetting)
        assert np.array_equal(values, matrix)
        row_s, _ = timed(lambda: store.write_row(3, matrix[3]), repeats=3)
    print(f"matrix {n_tasks} × {n_examples} float32 ({matrix.nbytes / 1e9:.1f} GB)")
    print(f"import  {import_s:6.2f} s   (np.save {save_s:.2f} s, ratio {import_s / save_s:.1f}×)")
    print(f"read    {read_s:6.2f} s   (np.load {load_s:.2f} s, ratio {read_s / load_s:.1f}×)")
    print(f"one row {row_s * 1e3:6.1f} ms")
    print(f"peak memory {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
