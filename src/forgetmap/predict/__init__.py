"""Predict a new task's forgetting of every upstream example from k probed examples.

Matrix-completion estimators (fit on the measured tasks, fold in a new task from its probes),
prior-work baselines, probe selection and the evaluation protocol behind ``forgetmap evaluate``.
Pure numpy/scipy: nothing here imports torch.
"""

from __future__ import annotations

from forgetmap.predict._additive import Additive
from forgetmap.predict._base import (
    CompletionConvergenceWarning,
    CompletionEstimator,
    StreamingEstimator,
)
from forgetmap.predict._knn import KNN
from forgetmap.predict._logistic import LogisticAdditive, LogisticLowRank
from forgetmap.predict._lowrank import LowRank, Multiplicative
from forgetmap.predict._mean import ColumnMean
from forgetmap.predict._prior import SimilarityPrior
from forgetmap.predict._registry import ALL_METHODS, make_estimator
from forgetmap.predict._tuned import Auto, Candidate, Tuned, TunedLowRank
from forgetmap.predict.baselines import CalibratedScore, RepresentationDotProduct
from forgetmap.predict.probing import active_probes, random_probes
from forgetmap.predict.protocol import draw_probes, evaluate, make_folds, parse_split
from forgetmap.predict.store_inputs import evaluate_store

__all__ = [
    "ALL_METHODS",
    "KNN",
    "Additive",
    "Auto",
    "CalibratedScore",
    "Candidate",
    "ColumnMean",
    "CompletionConvergenceWarning",
    "CompletionEstimator",
    "LogisticAdditive",
    "LogisticLowRank",
    "LowRank",
    "Multiplicative",
    "RepresentationDotProduct",
    "SimilarityPrior",
    "StreamingEstimator",
    "Tuned",
    "TunedLowRank",
    "active_probes",
    "draw_probes",
    "evaluate",
    "evaluate_store",
    "make_estimator",
    "make_folds",
    "parse_split",
    "random_probes",
]
