"""Analysis of the forgetting matrix: fits, patterns beyond rank 1, statistics and correlations.

Pure numpy/scipy: works on any matrix, imported or collected, and never imports torch.
"""

from forgetmap.analysis._analyze import analyze
from forgetmap.analysis._fits import (
    ConvergenceWarning,
    LowRankFit,
    additive_fit,
    fit_report,
    low_rank_fit,
)
from forgetmap.analysis._patterns import benjamini_hochberg

__all__ = [
    "ConvergenceWarning",
    "LowRankFit",
    "additive_fit",
    "analyze",
    "benjamini_hochberg",
    "fit_report",
    "low_rank_fit",
]
