"""Fine-tuning: the training stream of a task, and the loop that trains on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from forgetmap.errors import ConfigError
from forgetmap.lm._adapter import attach_lora, has_adapter
from forgetmap.lm._batch import pad_batch, pad_id, token_nll
from forgetmap.lm._encode import EncodedExample
from forgetmap.lm._loaded import LoadedModel
from forgetmap.lm._schedule import learning_rate_at
from forgetmap.lm._settings import TrainingSettings, TrainingSummary


def task_batches(
    encoded: Sequence[EncodedExample], settings: TrainingSettings, *, seed: int
) -> list[list[EncodedExample]]:
    """The deterministic training stream of one task.

    Examples are visited in a fresh random order each pass (epoch), drawn from ``seed``, and cut
    into ``settings.steps`` batches of ``settings.batch_size``; a task smaller than a batch or
    than the whole stream simply cycles.

    Returns
    -------
    list of list of EncodedExample
        ``settings.steps`` batches, each of ``settings.batch_size`` examples.
    """
    if not encoded:
        raise ConfigError("a task needs at least one training example, got none")
    rng = np.random.default_rng(seed)
    needed = settings.steps * settings.batch_size
    passes = -(-needed // len(encoded))
    stream = np.concatenate([rng.permutation(len(encoded)) for _ in range(passes)])[:needed]
    return [
        [encoded[i] for i in stream[start : start + settings.batch_size]]
        for start in range(0, needed, settings.batch_size)
    ]


def finetune(
    loaded: LoadedModel,
    batches: Sequence[Sequence[EncodedExample]],
    settings: TrainingSettings,
    *,
    progress: Callable[[int], None] | None = None,
    on_step: Callable[[int, LoadedModel], None] | None = None,
) -> TrainingSummary:
    """Train ``loaded.model`` on ``batches``, one optimizer step per batch.

    AdamW; learning rate from :func:`learning_rate_at` (linear warm-up, then
    ``settings.schedule`` over ``len(batches)`` steps); gradients clipped to
    ``settings.max_grad_norm``; the loss is the mean NLL over the batch's scored tokens (chat:
    response tokens only). Run it inside
    :func:`base_weights` so that the task starts from, and leaves behind, the base model. With
    LoRA and no adapter yet, a fresh adapter is attached to ``loaded.model`` for good.

    Deterministic: the same model, batches and ``settings.seed`` give bit-identical weights, on
    the same hardware with the same number of threads (``torch.get_num_threads()``: CPU kernels
    split their sums by thread, which changes rounding). The global torch RNG is left as it was.

    Parameters
    ----------
    loaded : LoadedModel
    batches : sequence of batches of EncodedExample, e.g. from :func:`task_batches`
    settings : TrainingSettings
    progress : callable, optional
        ``progress(steps_done)`` after each step.
    on_step : callable, optional
        ``on_step(step, loaded)`` after each optimizer step (1-based ``step``), e.g. to score or
        to change what comes next.

    Returns
    -------
    TrainingSummary
    """
    import torch

    if not batches:
        raise ConfigError("finetune needs at least one batch")
    if settings.method == "lora" and not has_adapter(loaded.model):
        loaded.model = attach_lora(loaded.model, settings)
    model = loaded.model
    if settings.method == "full":
        if has_adapter(model):
            raise ConfigError(
                "full fine-tuning asked for, but the model carries a LoRA adapter: open "
                "base_weights with the same settings that finetune gets"
            )
        for parameter in model.parameters():
            parameter.requires_grad_(True)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay, foreach=False
    )
    padding = pad_id(loaded.tokenizer)
    losses: list[float] = []
    tokens = 0
    start = time.perf_counter()
    cuda = [loaded.device.index or 0] if loaded.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(settings.seed)  # dropout, if the model or adapter has any
        model.train()
        try:
            for step, batch in enumerate(batches):
                # learning rate for this step
                lr = learning_rate_at(
                    step,
                    peak=settings.learning_rate,
                    warmup_steps=settings.warmup_steps,
                    total_steps=len(batches),
                    schedule=settings.schedule,
                )
                for group in optimizer.param_groups:
                    group["lr"] = lr
                # forward: mean NLL over the scored tokens of the batch
                ids, mask, scored = pad_batch(batch, padding, loaded.device)  # (B, T) each
                nll = token_nll(model, ids, mask, scored)  # (n_scored,)
                n_scored = int(nll.numel())
                loss = nll.sum() / max(n_scored, 1)
                # backward
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # clip
                if settings.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(parameters, settings.max_grad_norm)
                # step
                optimizer.step()
                # log
                losses.append(float(loss.detach()))
                tokens += n_scored
                if on_step is not None:
                    on_step(step + 1, loaded)
                if progress is not None:
                    progress(step + 1)
        finally:
            optimizer.zero_grad(set_to_none=True)
            model.eval()
    return TrainingSummary(
        first_loss=losses[0],
        last_loss=losses[-1],
        steps=len(losses),
        tokens=tokens,
        seconds=time.perf_counter() - start,
    )
