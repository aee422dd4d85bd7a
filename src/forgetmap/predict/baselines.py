"""Predictors from prior work, the opponents of matrix completion; none uses the k probes.

- Zero-shot similarity: forgetting grows with the similarity of the task's examples to an
  upstream example (embedding or TF-IDF cosine, from ``forgetmap similarity``); the scale and
  offset are calibrated by least squares on the training tasks.
- Gradient similarity: the first-order change of an upstream example's loss after a step on the
  task is ΔL_j ≈ −η⟨∇L_j, ∇L_task⟩; η (and an offset) are calibrated on the training tasks.
- Trainable representation dot-product ("What will my model forget?", ICML 2024): encoders map a
  task's training texts and an upstream example's text to vectors whose scaled dot product, plus
  the example's mean forgetting over the training tasks, is trained to predict the training
  tasks' forgetting; held-out tasks are predicted from their texts alone.

Each has ``fit(Z_train, tasks)`` (tasks: row indices of the training rows into the full inputs)
and ``predict_tasks(tasks) -> (n_rows, n_examples)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forgetmap.errors import PredictionError
from forgetmap.predict._base import check_matrix, check_random_state, column_means

__all__ = ["CalibratedScore", "RepresentationDotProduct"]


class CalibratedScore:
    """forgetting ≈ offset + slope · score(task, example), fitted on the training tasks.

    Parameters
    ----------
    scores : ndarray of shape (n_tasks, n_examples)
        A task–example score for every task (training and held-out): a similarity, or the
        gradient inner product ⟨∇L_j, ∇L_task⟩ (then the fitted slope plays −η).

    Attributes
    ----------
    slope_, offset_ : float
    """

    uses_task_index = True

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def fit(self, Z_train: np.ndarray, tasks: np.ndarray) -> CalibratedScore:
        Z = check_matrix(Z_train)
        S = np.asarray(self.scores, dtype=np.float64)[np.asarray(tasks)]
        if S.shape != Z.shape:
            raise PredictionError(f"scores of shape {S.shape} do not match the matrix {Z.shape}")
        keep = np.isfinite(Z) & np.isfinite(S)
        x, y = S[keep], Z[keep].astype(np.float64)
        variance = x.var()
        self.slope_ = (
            float(((x - x.mean()) * (y - y.mean())).mean() / variance) if variance > 0 else 0.0
        )
        self.offset_ = float(y.mean() - self.slope_ * x.mean())
        return self

    def predict_tasks(self, tasks: np.ndarray) -> np.ndarray:
        S = np.asarray(self.scores, dtype=np.float64)[np.asarray(tasks)]
        return np.nan_to_num(self.offset_ + self.slope_ * S, nan=self.offset_)


def hashed_features(texts: Sequence[str], n_features: int) -> object:
    """L2-normalised hashed word uni- and bigram counts, a sparse (n_texts, n_features) matrix."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        n_features=n_features, ngram_range=(1, 2), alternate_sign=False, norm="l2"
    )
    return vectorizer.transform([text or "" for text in texts])


class RepresentationDotProduct:
    """Trainable encoders whose scaled dot product predicts forgetting (ICML 2024 approach).

    ``Z_ij ≈ b_j + c + ⟨f(x_i), g(y_j)⟩ / √d``, with x_i the mean hashed n-gram features of task
    i's training texts, y_j those of example j, f and g linear maps to ``dim`` dimensions, b_j the
    example's mean forgetting over the training tasks; f, g and c are trained with Adam on the
    squared error over the training tasks' entries.

    Parameters
    ----------
    task_texts : list of list of str
        Training texts of every task (training and held-out), in row order.
    example_texts : list of str
        Text of each upstream example, in column order.
    dim : int, default=16
    n_features : int, default=4096
    steps : int, default=300
    learning_rate : float, default=0.01
    weight_decay : float, default=1e-4
    random_state : int, Generator or None
    """

    uses_task_index = True

    def __init__(
        self,
        task_texts: Sequence[Sequence[str]],
        example_texts: Sequence[str],
        dim: int = 16,
        n_features: int = 4096,
        steps: int = 300,
        learning_rate: float = 0.01,
        weight_decay: float = 1e-4,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.task_texts = task_texts
        self.example_texts = example_texts
        self.dim = dim
        self.n_features = n_features
        self.steps = steps
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.random_state = random_state

    def _task_features(self) -> np.ndarray:
        rows = []
        for texts in self.task_texts:
            block = hashed_features(list(texts) or [""], self.n_features)
            mean = np.asarray(block.mean(axis=0)).ravel()
            norm = np.linalg.norm(mean)
            rows.append(mean / norm if norm > 0 else mean)
        return np.stack(rows)

    def fit(self, Z_train: np.ndarray, tasks: np.ndarray) -> RepresentationDotProduct:
        Z = check_matrix(Z_train).astype(np.float64)
        if len(self.example_texts) != Z.shape[1]:
            raise PredictionError(
                f"{len(self.example_texts)} example texts for {Z.shape[1]} examples"
            )
        rng = check_random_state(self.random_state)
        if not hasattr(self, "_features"):
            self._features = (
                self._task_features(),
                hashed_features(self.example_texts, self.n_features),
            )
        X_task, X_ex = self._features
        tasks = np.asarray(tasks)
        finite = np.isfinite(Z)
        self.column_bias_, _ = column_means(Z)
        target = np.where(finite, Z - self.column_bias_, 0.0)
        weight = finite / max(finite.sum(), 1)
        d = int(self.dim)
        params = {
            "A": rng.normal(scale=0.1, size=(self.n_features, d)),
            "B": rng.normal(scale=0.1, size=(self.n_features, d)),
            "c": np.zeros(1),
        }
        moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
        Xt = X_task[tasks]  # (M, F)
        XeT = X_ex.T.tocsr()
        for step in range(1, int(self.steps) + 1):
            # forward: task and example embeddings, scaled dot product
            Ht = Xt @ params["A"]  # (M, d)
            He = X_ex @ params["B"]  # (N, d)
            error = weight * (Ht @ He.T / np.sqrt(d) + params["c"][0] - target)  # (M, N)
            # backward
            dHt = 2 * error @ He / np.sqrt(d)
            dHe = 2 * error.T @ Ht / np.sqrt(d)
            grads = {"A": Xt.T @ dHt, "B": np.asarray(XeT @ dHe), "c": np.array([2 * error.sum()])}
            # Adam step with decoupled weight decay
            for name, grad in grads.items():
                m, v = moments[name]
                m *= 0.9
                m += 0.1 * grad
                v *= 0.999
                v += 0.001 * grad**2
                update = (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
                params[name] -= self.learning_rate * (update + self.weight_decay * params[name])
        self.params_ = params
        self.example_embeddings_ = X_ex @ params["B"]
        return self

    def predict_tasks(self, tasks: np.ndarray) -> np.ndarray:
        X_task, _ = self._features
        Ht = X_task[np.asarray(tasks)] @ self.params_["A"]
        scaled = Ht @ self.example_embeddings_.T / np.sqrt(int(self.dim))
        return self.column_bias_[None, :] + self.params_["c"][0] + scaled
