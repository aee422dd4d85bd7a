"""Gradient similarity: batched per-example gradients (hooks) against one backward per example.

Reference: the direct way, one ``torch.autograd.grad`` per example (each task's and each upstream
example's), flattening the LoRA gradients and taking inner products. Same model, same adapter,
same examples, in the same run; the two results must agree.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from benchmarks._measure import peak_rss_gb, timed
from forgetmap.data import Example


def _examples(prefix: str, n: int, seed: int) -> list[Example]:
    rng = np.random.default_rng(seed)
    words = [
        "the",
        "model",
        "learns",
        "a",
        "task",
        "and",
        "forgets",
        "some",
        "of",
        "what",
        "it",
        "knew",
        "before",
    ]
    return [
        Example(id=f"{prefix}{i}", text=" ".join(rng.choice(words, size=int(rng.integers(12, 40)))))
        for i in range(n)
    ]


def _reference(loaded, upstream, tasks, settings) -> np.ndarray:
    import torch

    from forgetmap.lm import base_weights

    def loss(example):
        ids = torch.from_numpy(example.input_ids)[None].to(loaded.device)  # (1, T)
        scored = torch.from_numpy(example.scored)[None].to(loaded.device)  # (1, T)
        return loaded.model(input_ids=ids, labels=torch.where(scored, ids, -100)).loss

    with base_weights(loaded, dataclasses.replace(settings, method="lora")):
        loaded.model.eval()
        params = [p for p in loaded.model.parameters() if p.requires_grad]

        def flat(example):
            return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss(example), params)])

        task_means = torch.stack(
            [torch.stack([flat(e) for e in task]).double().mean(dim=0) for task in tasks]
        )
        upstream_grads = torch.stack([flat(e) for e in upstream]).double()
        return (task_means @ upstream_grads.T).numpy()


def _compare(name: str, n_upstream: int, n_tasks: int, per_task: int, max_length: int) -> None:
    from forgetmap.lm import TrainingSettings, encode_examples, load_model
    from forgetmap.similarity._gradient import gradient_similarity

    loaded = load_model(name, device="cpu")
    settings = TrainingSettings(seed=0)
    upstream = encode_examples(
        loaded.tokenizer, _examples("u", n_upstream, 0), max_length=max_length
    )
    tasks = [
        encode_examples(
            loaded.tokenizer, _examples(f"t{t}-", per_task, t + 1), max_length=max_length
        )
        for t in range(n_tasks)
    ]
    ours_s, ours = timed(lambda: gradient_similarity(loaded, upstream, tasks, settings))
    reference_s, reference = timed(lambda: _reference(loaded, upstream, tasks, settings))
    error = float(np.abs(ours - reference).max() / max(np.abs(reference).max(), 1e-300))
    examples = n_upstream + n_tasks * per_task
    print(
        f"{name}: {n_tasks} tasks × {per_task} + {n_upstream} upstream examples "
        f"(≤ {max_length} tokens)"
    )
    print(
        f"  batched hooks {ours_s:6.2f} s ({examples / ours_s:6.1f} examples/s)   "
        f"one backward per example {reference_s:6.2f} s   ratio {reference_s / ours_s:.1f}×   "
        f"max relative difference {error:.1e}"
    )


def main() -> None:
    import torch

    print(f"torch threads: {torch.get_num_threads()}")
    _compare("tiny-random", n_upstream=128, n_tasks=4, per_task=16, max_length=64)
    _compare("smollm2-135m-instruct", n_upstream=16, n_tasks=2, per_task=4, max_length=64)
    print(f"peak memory {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
