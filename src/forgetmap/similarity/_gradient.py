"""Gradient similarity: ⟨∇L_j, ∇L_task⟩ over LoRA parameters at the base weights.

One step of gradient descent with learning rate η on a task changes the loss of upstream example
j by ΔL_j ≈ −η·⟨∇L_j, ∇L_task⟩ (first order). A large positive inner product therefore predicts
that training on the task *lowers* the example's loss; forgetting (a loss increase) goes with a
negative one. The stored array holds the inner products themselves; the first-order estimate of
forgetting is −η times them.

Per-example gradients come from one batched backward pass: every LoRA factor is a bias-free
``nn.Linear`` (y = x Wᵀ), whose gradient for example b is Σ_t g_bt x_btᵀ, with x its input and g
the gradient at its output; both are caught by hooks, so a batch of B examples costs one forward
and one backward instead of B.

torch is imported inside the functions: ``forgetmap.similarity`` stays cheap to import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from forgetmap.errors import ConfigError

if TYPE_CHECKING:
    from forgetmap.lm import EncodedExample, LoadedModel, TrainingSettings
    from forgetmap.store import ForgettingStore
    from forgetmap.stored_run import StoredRun

__all__ = [
    "DESCRIPTION",
    "gradient_kind",
    "gradient_similarity",
    "per_example_gradients",
    "store_gradient_similarity",
]

ARRAY = "similarity_gradient"
MAX_BATCH = 8  # examples per backward pass: the logits of a 49k-token vocabulary are large
DESCRIPTION = (
    "<grad L_example, mean grad L_task> over LoRA parameters at the base weights; "
    "first-order forgetting estimate = -lr * value"
)
SIGN_CONVENTION = (
    "entry (i, j) = <grad L_j, mean grad L_task_i> over the LoRA parameters at the base weights; "
    "the first-order estimate of forgetting is -lr * entry (positive entry: the task lowers "
    "example j's loss)"
)


def per_example_gradients(
    loaded: LoadedModel, encoded: Sequence[EncodedExample], *, batch_size: int = 8
) -> Any:
    """Gradient of each example's mean NLL w.r.t. the model's trainable (LoRA) parameters.

    Parameters
    ----------
    loaded : LoadedModel
        A model whose trainable parameters are all weights of bias-free ``nn.Linear`` modules
        (the LoRA factors peft adds); run it inside :func:`forgetmap.lm.base_weights`.
    encoded : sequence of EncodedExample, length n
    batch_size : int
        Examples per forward/backward pass.

    Returns
    -------
    torch.Tensor of float32, shape (n, n_parameters)
        Flattened in a fixed order of the parameters; a row of zeros for an example with no
        scored token.
    """
    import torch

    model = loaded.model
    modules = _linear_trainables(model)
    n_params = sum(module.weight.numel() for module in modules)
    out = torch.zeros((len(encoded), n_params), dtype=torch.float32)
    for start in range(0, len(encoded), batch_size):
        rows = list(range(start, min(start + batch_size, len(encoded))))
        out[start : start + len(rows)] = _batch_gradients(
            loaded, modules, [encoded[i] for i in rows]
        )
    return out


def gradient_similarity(
    loaded: LoadedModel,
    upstream: Sequence[EncodedExample],
    tasks: Sequence[Sequence[EncodedExample]],
    settings: TrainingSettings,
    *,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Inner products of upstream gradients with each task's mean gradient.

    A fresh LoRA adapter (the run's rank, alpha, target modules and seed; always LoRA, also for
    runs that fine-tune every weight) is attached at the base weights; its B factors start at
    zero, so the model is exactly the base model and only the gradients depend on the adapter.

    Parameters
    ----------
    loaded : LoadedModel
        The base model (no adapter); it is the base model again on return.
    upstream : sequence of EncodedExample, length n_examples
    tasks : sequence of sequences of EncodedExample, length n_tasks
        Each task's training examples; its gradient is the mean of their per-example gradients.
    settings : TrainingSettings
    batch_size : int
    progress : callable, optional
        ``progress(n_done)`` with the number of examples (task and upstream) processed so far.

    Returns
    -------
    ndarray of float64, shape (n_tasks, n_examples)
        ``⟨∇L_j, ∇L_task⟩``; see the module docstring for the sign.
    """
    import torch

    from forgetmap.lm import base_weights

    if any(len(task) == 0 for task in tasks):
        raise ConfigError("every task needs at least one training example for its gradient")
    lora = dataclasses.replace(settings, method="lora", lora_dropout=0.0)
    done = 0
    with base_weights(loaded, lora):
        loaded.model.eval()
        task_gradients = []
        for task in tasks:
            gradients = per_example_gradients(loaded, task, batch_size=batch_size)
            task_gradients.append(gradients.double().mean(dim=0))
            done += len(task)
            if progress is not None:
                progress(done)
        T = torch.stack(task_gradients)  # (n_tasks, n_parameters)
        result = np.empty((len(tasks), len(upstream)), dtype=np.float64)
        for start in range(0, len(upstream), batch_size):
            chunk = upstream[start : start + batch_size]
            G = per_example_gradients(loaded, chunk, batch_size=batch_size)  # (B, n_parameters)
            result[:, start : start + len(chunk)] = (T @ G.double().T).numpy()
            done += len(chunk)
            if progress is not None:
                progress(done)
    return result


def store_gradient_similarity(
    store: ForgettingStore,
    *,
    base_dir: str | None = None,
    run: StoredRun | None = None,
    batch_size: int = 8,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Gradient similarity of a collected store (not saved here).

    The run's base model and examples are rebuilt from the store (see
    :mod:`forgetmap.stored_run`).

    Parameters
    ----------
    run : StoredRun, optional
        The store's run, already re-planned (else re-planned here from ``base_dir``).
    progress : callable, optional
        ``progress(n_done, total)``, counting task and upstream examples.

    Returns
    -------
    similarity : ndarray of float64, shape (n_tasks, n_examples)
    info : dict
        What was computed: model, LoRA settings, parameter count and the sign convention.
    """
    from forgetmap.stored_run import load_base_model, stored_run

    run = stored_run(store, base_dir) if run is None else run
    loaded = load_base_model(run.config, device=device)
    upstream, tasks = run.encode(loaded.tokenizer)
    task_lists = [tasks[task_id] for task_id in store.task_ids]
    total = len(upstream) + sum(len(t) for t in task_lists)
    settings = run.settings
    report = None if progress is None else (lambda done: progress(done, total))
    similarity = gradient_similarity(
        loaded, upstream, task_lists, settings, batch_size=batch_size, progress=report
    )
    info = {
        "model": run.config.model.id,
        "parameters": "lora",
        "lora_rank": settings.lora_rank,
        "lora_alpha": settings.lora_alpha,
        "target_modules": None
        if settings.target_modules is None
        else list(settings.target_modules),
        "lora_layers": None if settings.lora_layers is None else list(settings.lora_layers),
        "seed": settings.seed,
        "learning_rate": settings.learning_rate,
        "task_gradient": "mean of per-example gradients of each training example's mean NLL",
        "sign": SIGN_CONVENTION,
    }
    return similarity, info


def gradient_kind(inputs: Any, *, batch_size: int = MAX_BATCH) -> np.ndarray:
    """The ``gradient`` kind of ``forgetmap similarity``: (n_tasks, n_examples) inner products.

    Needs a collected store (its config names the model and the data); shows a progress bar
    on stderr. ``batch_size`` is capped at :data:`MAX_BATCH`.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("gradients"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    from forgetmap.stored_run import stored_run

    run = stored_run(inputs.store)  # data problems are reported before the bar starts
    task = bar.add_task("gradients", total=None)
    with bar:
        similarity, _ = store_gradient_similarity(
            inputs.store,
            run=run,
            batch_size=max(1, min(int(batch_size), MAX_BATCH)),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    return similarity


# ---------------------------------------------------------------------- internals
def _linear_trainables(model: Any) -> list[Any]:
    """The bias-free Linear modules holding every trainable parameter, in a fixed order."""
    import torch

    modules = []
    covered = set()
    for module in model.modules():
        if (
            isinstance(module, torch.nn.Linear)
            and module.weight.requires_grad
            and (module.bias is None or not module.bias.requires_grad)
        ):
            modules.append(module)
            covered.add(id(module.weight))
    stray = [
        name for name, p in model.named_parameters() if p.requires_grad and id(p) not in covered
    ]
    if stray or not modules:
        raise ConfigError(
            "gradient similarity needs a model whose trainable parameters are LoRA factors only; "
            f"also trainable: {', '.join(stray[:3]) or 'nothing at all'}"
        )
    return modules


def _batch_gradients(
    loaded: LoadedModel, modules: list[Any], batch: Sequence[EncodedExample]
) -> Any:
    """Per-example gradients of one batch, flattened: (B, n_parameters)."""
    import torch

    inputs: dict[int, Any] = {}
    grads: dict[int, Any] = {}

    def forward_hook(module: Any, args: tuple[Any, ...], output: Any) -> None:
        key = id(module)
        inputs[key] = args[0].detach()  # (B, T, in)
        output.register_hook(lambda grad: grads.__setitem__(key, grad.detach()))  # (B, T, out)

    handles = [module.register_forward_hook(forward_hook) for module in modules]
    try:
        with torch.enable_grad():
            losses = _example_losses(loaded, batch)  # (B,)
            loaded.model.zero_grad(set_to_none=True)
            # Examples do not interact (masked padding, no batch statistics), so the gradient of
            # the sum splits into each example's own gradient.
            losses.sum().backward()
    finally:
        for handle in handles:
            handle.remove()
        loaded.model.zero_grad(set_to_none=True)
    parts = []
    for module in modules:
        key = id(module)
        if key not in grads:  # the module took no part in this loss
            parts.append(torch.zeros((len(batch), module.weight.numel())))
            continue
        g = grads[key].float().reshape(len(batch), -1, module.out_features)  # (B, T, out)
        x = inputs[key].float().reshape(len(batch), -1, module.in_features)  # (B, T, in)
        parts.append(torch.einsum("bto,bti->boi", g, x).reshape(len(batch), -1).cpu())
    return torch.cat(parts, dim=1)


def _example_losses(loaded: LoadedModel, batch: Sequence[EncodedExample]) -> Any:
    """Mean NLL of each example over its scored tokens, shape (B,); 0 when none is scored."""
    import torch
    import torch.nn.functional as F

    pad = loaded.tokenizer.pad_token_id
    pad = int(pad if pad is not None else (loaded.tokenizer.eos_token_id or 0))
    width = max(len(example) for example in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T)
    scored = torch.zeros((len(batch), width), dtype=torch.bool)  # (B, T)
    for row, example in enumerate(batch):
        ids[row, : len(example)] = torch.from_numpy(example.input_ids)
        mask[row, : len(example)] = 1
        scored[row, : len(example)] = torch.from_numpy(example.scored)
    ids, mask, scored = ids.to(loaded.device), mask.to(loaded.device), scored.to(loaded.device)
    logits = loaded.model(input_ids=ids, attention_mask=mask, use_cache=False).logits  # (B, T, V)
    # position t predicts token t + 1
    nll = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), ids[:, 1:], reduction="none"
    )  # (B, T-1)
    weight = scored[:, 1:].float()  # (B, T-1)
    counts = weight.sum(dim=1)
    return (nll * weight).sum(dim=1) / counts.clamp(min=1.0)
