"""Similarity between fine-tuning tasks and upstream examples, saved for the analysis.

Kinds live in a registry (:func:`register_kind`): ``tfidf`` (lexical) and ``embedding``
(all-MiniLM-L6-v2, offline) are built in; a kind that needs the language model (gradient
similarity) registers itself from the module that can compute it.
"""

from forgetmap.similarity._compute import compute_similarity, similarity_inputs
from forgetmap.similarity._embedding import embedding_similarity
from forgetmap.similarity._gradient import DESCRIPTION as GRADIENT_DESCRIPTION
from forgetmap.similarity._gradient import gradient_kind
from forgetmap.similarity._registry import (
    SimilarityInputs,
    SimilarityKind,
    get_kind,
    kinds,
    register_kind,
)
from forgetmap.similarity._tasks import TASK_SIMILARITY_KINDS, task_similarity
from forgetmap.similarity._tfidf import tfidf_similarity

register_kind("tfidf", "TF-IDF cosine of task training texts and example text", tfidf_similarity)
register_kind(
    "embedding",
    "cosine of all-MiniLM-L6-v2 mean-pooled embeddings (task: mean of its texts)",
    embedding_similarity,
)
register_kind("gradient", GRADIENT_DESCRIPTION, gradient_kind)  # imports torch only when run

__all__ = [
    "TASK_SIMILARITY_KINDS",
    "SimilarityInputs",
    "SimilarityKind",
    "compute_similarity",
    "embedding_similarity",
    "get_kind",
    "gradient_kind",
    "kinds",
    "register_kind",
    "similarity_inputs",
    "task_similarity",
    "tfidf_similarity",
]
