"""Lexical similarity: TF-IDF cosine between a task's training texts and an example's text."""

from __future__ import annotations

import numpy as np

from forgetmap.similarity._registry import SimilarityInputs


def tfidf_similarity(inputs: SimilarityInputs, *, batch_size: int = 0) -> np.ndarray:
    """Cosine of TF-IDF vectors: one document per task (its training texts joined), one per example.

    The vocabulary and IDF weights are fitted on the task and example documents together
    (sublinear term frequency, unigrams and bigrams, English stop words left out).
    Returns float32 of shape (n_tasks, n_examples); NaN for a task without training texts or
    an example without text.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    task_docs = ["\n".join(texts) for texts in inputs.task_texts]
    example_docs = [text or "" for text in inputs.example_texts]
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), stop_words="english")
    matrix = vectorizer.fit_transform(task_docs + example_docs)  # rows L2-normalised
    tasks, examples = matrix[: len(task_docs)], matrix[len(task_docs) :]
    result = np.asarray((tasks @ examples.T).todense(), dtype=np.float32)
    result[[not texts for texts in inputs.task_texts]] = np.nan
    result[:, [not text for text in inputs.example_texts]] = np.nan
    return result
