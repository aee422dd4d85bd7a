"""Where the report's numbers come from: artifacts computed by the stages that own them.

The report draws what ``forgetmap analyze``, ``evaluate`` and ``replay`` computed; it computes
nothing of theirs itself. When the store has no ``analysis`` artifact (or one of another rank or
metric), :func:`forgetmap.analysis.analyze` is called; ``evaluate`` and ``replay`` are shown only
when their results exist.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from forgetmap.errors import DataFormatError, InputFileNotFoundError
from forgetmap.store import ForgettingStore

__all__ = ["default_rank", "load_analysis", "load_evaluate", "load_replay"]

DEFAULT_RANK = 10


def default_rank(shape: tuple[int, int]) -> int:
    """Rank used when none is asked: 10, or less so it stays below ``min(n_tasks, n_examples)``."""
    return max(1, min(DEFAULT_RANK, min(shape) - 1))


def load_analysis(
    store: ForgettingStore, *, rank: int | None, metric: str | None, seed: int = 0
) -> tuple[dict[str, Any], str]:
    """The ``analyze`` document and where it came from (``"artifact"`` or ``"computed"``).

    The stored artifact is used when it matches the asked ``rank`` (its number of ``rank_r2``
    entries), the ``metric`` and the store's current shape (finished rows × examples); otherwise
    the analysis is computed now, leaving out tasks or examples with no measured entry (the page
    lists them), and is not written back: the report leaves the store as it found it.
    """
    document = store.load_json("analysis")
    wanted_metric = metric or store.metrics[0]
    n_rows = len(store.finished())
    if isinstance(document, dict) and "fits" in document:
        stored_rank = len(document.get("rank_r2") or {})
        stored_metric = document.get("metric", store.metrics[0])
        stored_shape = document.get("shape", [n_rows, store.shape[1]])
        if (
            (rank is None or rank == stored_rank)
            and stored_metric == wanted_metric
            and list(stored_shape) == [n_rows, store.shape[1]]
        ):
            return document, "artifact"
    from forgetmap.analysis import analyze

    # No rank asked: analyze picks the default from the matrix left after dropping empty tasks
    # and examples, so an empty task row never makes the default rank too high.
    return analyze(store, rank=rank, metric=metric, drop_empty=True, seed=seed), "computed"


def load_evaluate(store: ForgettingStore) -> dict[str, Any] | None:
    """The ``evaluate`` artifact, or ``None`` when the store has none."""
    document = store.load_json("evaluate")
    if document is None:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("methods"), dict):
        raise DataFormatError(
            f"artifact 'evaluate' of {str(store.path)!r} has no 'methods' mapping; "
            "rerun `forgetmap evaluate`"
        )
    return document


def load_replay(
    store: ForgettingStore, path: str | os.PathLike[str] | None = None
) -> dict[str, Any] | None:
    """Replay results from ``path`` (a ``replay.json``), else the store's ``replay`` artifact."""
    if path is not None:
        path = Path(path)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputFileNotFoundError(f"replay results {str(path)!r} do not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DataFormatError(
                f"replay results {str(path)!r} are not valid JSON: {error}"
            ) from None
        where = repr(str(path))
    else:
        document = store.load_json("replay")
        if document is None:
            return None
        where = f"artifact 'replay' of {str(store.path)!r}"
    if not isinstance(document, dict) or not isinstance(document.get("samplers"), dict):
        raise DataFormatError(
            f"replay results {where} have no 'samplers' mapping; expected the replay.json "
            "written by `forgetmap replay`"
        )
    tests = document.get("tests", [])
    if not isinstance(tests, list) or not all(isinstance(test, dict) for test in tests):
        raise DataFormatError(f"replay results {where}: 'tests' must be a list of objects")
    return document
