"""Similarity between tasks, from their training texts: what a forecast without probes leans on.

Before a model is fine-tuned on new data, the only evidence of what it will forget is how much
that data resembles the data of tasks already measured. Two kinds, as for example similarity:

- ``tfidf``: cosine of TF-IDF vectors, one document per task (its texts joined), the vocabulary
  fitted on all the tasks given;
- ``embedding``: cosine of the mean sentence embedding of each task's texts (the offline
  ``all-MiniLM-L6-v2`` model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forgetmap.errors import SimilarityError

__all__ = ["TASK_SIMILARITY_KINDS", "task_similarity"]

TASK_SIMILARITY_KINDS = ("tfidf", "embedding")

#: Texts per task that enter its embedding (a seeded sample beyond it keeps the cost bounded).
MAX_EMBEDDED_TEXTS = 256


def task_similarity(
    tasks: Sequence[Sequence[str]], others: Sequence[Sequence[str]], kind: str = "tfidf"
) -> np.ndarray:
    """Cosine similarity of each task in ``tasks`` to each in ``others``, shape (len, len).

    Parameters
    ----------
    tasks, others : sequences of lists of texts
        Each task's training texts (``others`` may be ``tasks`` itself).
    kind : {"tfidf", "embedding"}

    Returns
    -------
    ndarray of float64; NaN where a task has no text.
    """
    if kind not in TASK_SIMILARITY_KINDS:
        raise SimilarityError(
            f"unknown task similarity {kind!r}; choose from {', '.join(TASK_SIMILARITY_KINDS)}"
        )
    vectors = _tfidf(list(tasks) + list(others)) if kind == "tfidf" else _embedded(tasks, others)
    a, b = vectors[: len(tasks)], vectors[len(tasks) :]
    result = np.asarray(a @ b.T, dtype=np.float64)
    result[[not texts for texts in tasks]] = np.nan
    result[:, [not texts for texts in others]] = np.nan
    return result


def _tfidf(documents: list[Sequence[str]]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    joined = ["\n".join(texts) for texts in documents]
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), stop_words="english")
    try:
        return vectorizer.fit_transform(joined).toarray()  # rows L2-normalised
    except ValueError:  # every document empty
        return np.zeros((len(joined), 1))


def _embedded(tasks: Sequence[Sequence[str]], others: Sequence[Sequence[str]]) -> np.ndarray:
    from forgetmap.similarity._embedding import embed

    rng = np.random.default_rng(0)
    chosen = []
    for texts in list(tasks) + list(others):
        texts = list(texts)
        if len(texts) > MAX_EMBEDDED_TEXTS:
            keep = np.sort(rng.choice(len(texts), MAX_EMBEDDED_TEXTS, replace=False))
            texts = [texts[i] for i in keep]
        chosen.append(texts)
    flat = [text for texts in chosen for text in texts]
    vectors = embed(flat) if flat else np.zeros((0, 1), dtype=np.float32)
    out = np.zeros((len(chosen), vectors.shape[1]))
    start = 0
    for i, texts in enumerate(chosen):
        if texts:
            mean = vectors[start : start + len(texts)].mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        start += len(texts)
    return out
