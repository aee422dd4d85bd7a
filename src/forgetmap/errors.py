"""The errors forgetmap raises on bad input.

Every error a user can cause derives from :class:`ForgetmapError`; the CLI turns these into a
one-line message and exit code 2. Each subclass also inherits the matching built-in exception, so
callers that already catch ``FileNotFoundError`` or ``ValueError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "CheckpointMismatchError",
    "ConfigError",
    "DataFormatError",
    "DataSourceError",
    "ExecutorError",
    "ForgetmapError",
    "InputFileNotFoundError",
    "ModelNotFoundError",
    "OutputPathError",
    "PredictionError",
    "ReportError",
    "SimilarityError",
    "StoreAccessError",
    "StoreConflictError",
    "StoreDamagedError",
    "StoreError",
    "StoreNotFoundError",
    "UnknownFormatError",
]


class ForgetmapError(Exception):
    """Base class of every error caused by bad input; its message says what to do."""


class InputFileNotFoundError(ForgetmapError, FileNotFoundError):
    """An input file named by the user does not exist."""


class OutputPathError(ForgetmapError, OSError):
    """An output path cannot be written: a directory where a file goes, an unwritable folder, ..."""


class UnknownFormatError(ForgetmapError, ValueError):
    """A file extension that forgetmap cannot read or write."""


class DataFormatError(ForgetmapError, ValueError):
    """An input file exists but its content is not a valid forgetting matrix or table."""


class StoreError(ForgetmapError, ValueError):
    """A store is malformed or used inconsistently (wrong shape, unknown task, ...)."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """A path that should hold a forgetmap store does not."""


class StoreConflictError(StoreError, FileExistsError):
    """A store would overwrite, or be mixed with, a different store."""


class StoreAccessError(StoreError):
    """The storage behind a store URL could not be reached (credentials, endpoint, network)."""


class StoreDamagedError(StoreError):
    """A file of a store is missing, unreadable or differs from its recorded checksum."""


class ConfigError(ForgetmapError, ValueError):
    """An experiment configuration is invalid."""


class ModelNotFoundError(ForgetmapError, LookupError):
    """A model name that is neither bundled, nor a local directory, nor reachable on the hub."""


class AnalysisError(ForgetmapError, ValueError):
    """A matrix or request that the analysis cannot handle (empty rows, too high a rank, ...)."""


class PredictionError(ForgetmapError, ValueError):
    """Bad input to the prediction of forgetting (probe count, method, split, rows)."""


class DataSourceError(ForgetmapError, ValueError):
    """A data source cannot give what the config asks (unknown corpus, too few examples, ...)."""


class ExecutorError(ForgetmapError, RuntimeError):
    """An executor cannot run the jobs (Ray missing, cluster unreachable, bad options)."""


class CheckpointMismatchError(ForgetmapError, ValueError):
    """A fine-tuned checkpoint was not made from the store's base model."""


class ReportError(ForgetmapError, ValueError):
    """A report cannot be made from the given store or options."""


class SimilarityError(ForgetmapError, ValueError):
    """Task–example similarities cannot be computed (missing texts, model or kind)."""
