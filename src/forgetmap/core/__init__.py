"""The numerical core that ``analysis`` and ``predict`` share: one fit of each kind.

Column-block streaming, the matrix check, the exact least-squares additive fit, the Gram-matrix
SVD of a complete matrix and masked alternating least squares, with the one convergence warning.
Pure numpy/scipy; imports nothing of forgetmap but ``errors``.
"""

from __future__ import annotations

from forgetmap.core._additive import (
    AdditiveFit,
    Moments,
    additive_residual_ss,
    complete_additive_residual_ss,
    fit_additive,
    moments,
)
from forgetmap.core._als import ConvergenceWarning, alternating_least_squares
from forgetmap.core._blocks import CHUNK, column_blocks, float_block
from forgetmap.core._checks import check_matrix
from forgetmap.core._factors import LowRankFit, masked_sse, orient, orthonormal_fit
from forgetmap.core._gram import gram_eigenpairs, gram_svd, project, short_side_gram

__all__ = [
    "CHUNK",
    "AdditiveFit",
    "ConvergenceWarning",
    "LowRankFit",
    "Moments",
    "additive_residual_ss",
    "alternating_least_squares",
    "check_matrix",
    "column_blocks",
    "complete_additive_residual_ss",
    "fit_additive",
    "float_block",
    "gram_eigenpairs",
    "gram_svd",
    "masked_sse",
    "moments",
    "orient",
    "orthonormal_fit",
    "project",
    "short_side_gram",
]
