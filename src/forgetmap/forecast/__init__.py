"""Forecast a fine-tuned checkpoint's forgetting of all upstream examples from k scored ones."""

from forgetmap.forecast._before import forecast_before_finetuning
from forgetmap.forecast._forecast import Forecast, forecast
from forgetmap.forecast._forecaster import (
    DEFAULT_METHOD,
    PROBES,
    Forecaster,
    choose_probes,
)
from forgetmap.forecast._ranking import (
    COLUMNS,
    build_ranking,
    ranked_forgetting,
    read_ranking,
    write_ranking,
)
from forgetmap.lm._checkpoint_files import check_checkpoint, resolve_checkpoint

__all__ = [
    "COLUMNS",
    "DEFAULT_METHOD",
    "PROBES",
    "Forecast",
    "Forecaster",
    "build_ranking",
    "check_checkpoint",
    "choose_probes",
    "forecast",
    "forecast_before_finetuning",
    "ranked_forgetting",
    "read_ranking",
    "resolve_checkpoint",
    "write_ranking",
]
