"""The ranking table of a forecast: built from predictions, written as CSV, read back checked.

One row per upstream example, most at risk first. ``forgetmap forecast`` writes it; ``forgetmap
replay-set --forecast`` and the trainer integration read it back, so a forecast made once can
choose replay examples later without scoring anything again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.errors import (
    DataFormatError,
    InputFileNotFoundError,
    PredictionError,
    StoreConflictError,
)

if TYPE_CHECKING:
    import pandas as pd

    from forgetmap.store import ForgettingStore

__all__ = ["COLUMNS", "build_ranking", "ranked_forgetting", "read_ranking", "write_ranking"]

COLUMNS = (
    "rank",
    "example",
    "forgetting",
    "predicted",
    "low",
    "high",
    "probed",
    "measured",
    "actual",
    "source",
    "text",
)


def build_ranking(
    store: ForgettingStore,
    probes: np.ndarray,
    measured: np.ndarray,
    predicted: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    actual: np.ndarray,
) -> pd.DataFrame:
    """The ranking of every upstream example of ``store``, with the columns of :data:`COLUMNS`.

    Parameters
    ----------
    probes : ndarray of int, shape (k,)
        Column indices of the scored examples.
    measured : ndarray of shape (k,)
        Their measured forgetting.
    predicted, low, high, actual : ndarray of shape (n_examples,)
        In the store's column order.
    """
    import pandas as pd

    n_examples = store.shape[1]
    probed = np.zeros(n_examples, dtype=bool)
    probed[probes] = True
    measured_all = np.full(n_examples, np.nan)
    measured_all[probes] = measured
    estimate = np.where(probed, measured_all, predicted)
    examples = store.examples()
    frame = pd.DataFrame(
        {
            "example": list(store.example_ids),
            "forgetting": estimate,
            "predicted": predicted,
            "low": low,
            "high": high,
            "probed": probed,
            "measured": measured_all,
            "actual": actual,
            "source": _column(examples, "source", n_examples),
            "text": _column(examples, "text", n_examples),
        }
    )
    # most at risk first; ties keep the store's column order
    order = np.lexsort((np.arange(n_examples), -estimate))
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, n_examples + 1))
    return frame[list(COLUMNS)]


def write_ranking(ranking: pd.DataFrame, path: str | os.PathLike[str]) -> str:
    """Write the ranking as CSV, atomically (a reader sees the old file or the whole new one)."""
    from forgetmap.store import atomic_write

    target = Path(path)
    if target.is_dir():
        raise PredictionError(f"{str(path)!r} is a directory; name a CSV file")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda temp: ranking.to_csv(temp, index=False, float_format="%.6g"))
    return str(target)


def read_ranking(path: str | os.PathLike[str], store: ForgettingStore) -> pd.DataFrame:
    """Read a ranking CSV written by ``forgetmap forecast`` and check it belongs to ``store``.

    A forecast predicts the columns of the store it was made from; read against another store,
    its numbers would be attached to the wrong examples. So the CSV must name exactly the
    store's upstream examples, with the same texts.

    Raises
    ------
    InputFileNotFoundError
        No file at ``path``.
    DataFormatError
        Not a forecast CSV (missing columns, unreadable, non-finite forgetting).
    StoreConflictError
        A forecast of another store.
    """
    import pandas as pd

    source = Path(path)
    if not source.is_file():
        raise InputFileNotFoundError(
            f"no forecast CSV at {str(path)!r}; write one with `forgetmap forecast --out`"
        )
    try:
        frame = pd.read_csv(source, dtype={"example": str, "text": str, "source": str})
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        raise DataFormatError(f"cannot read forecast CSV {str(path)!r}: {error}") from None
    missing = [column for column in ("example", "forgetting") if column not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{str(path)!r} is not a forecast CSV: it lacks column(s) {', '.join(missing)} "
            "(write one with `forgetmap forecast --out`)"
        )
    ids = [str(value) for value in frame["example"]]
    if len(set(ids)) != len(ids) or set(ids) != set(store.example_ids):
        raise StoreConflictError(
            f"forecast {str(path)!r} ranks {len(set(ids))} examples that are not the "
            f"{store.shape[1]} upstream examples of store {str(store.path)!r}: it was made from "
            "another store; forecast again with this one"
        )
    if "text" in frame.columns and "text" in store.examples().columns:
        texts = dict(zip(store.example_ids, store.examples()["text"], strict=True))
        stale = [i for i, text in zip(ids, frame["text"], strict=True) if str(text) != texts[i]]
        if stale:
            raise StoreConflictError(
                f"forecast {str(path)!r} gives other texts than store {str(store.path)!r} for "
                f"{len(stale)} example(s) (e.g. {stale[0]!r}): it was made from another store"
            )
    forgetting = pd.to_numeric(frame["forgetting"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(forgetting).all():
        raise DataFormatError(f"forecast {str(path)!r} has an empty or non-numeric forgetting")
    frame["example"] = ids
    return frame


def ranked_forgetting(ranking: pd.DataFrame, example_ids: Any) -> np.ndarray:
    """The ranking's ``forgetting`` back in store column order, ndarray of shape (n_examples,).

    For a probed example it is the measured value, otherwise the prediction: the best estimate
    there is of each example's forgetting.
    """
    by_id = dict(zip(ranking["example"], ranking["forgetting"], strict=True))
    return np.array([float(by_id[example_id]) for example_id in example_ids], dtype=np.float64)


def _column(table: pd.DataFrame, name: str, n: int) -> list[Any]:
    if name not in table.columns:
        return [None] * n
    return [None if value is None or value != value else str(value) for value in table[name]]
