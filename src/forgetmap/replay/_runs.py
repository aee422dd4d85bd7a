"""Run the replay experiment's fine-tunings: one (task, seed) pair with all its samplers.

Each run starts from the base weights, trains on the task's stream with its sampler's replay
examples interleaved, then scores every upstream example and the task's own examples. A finished
run is one row of the result store, written whole and then marked done; a resumed worker skips
finished rows and reads back the plain run that others depend on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from forgetmap.replay._plan import ReplayPlan, ReplayRun
from forgetmap.replay._samplers import PREDICTED_SAMPLERS, SAMPLERS, draw_replay
from forgetmap.replay._stream import interleave, replay_slots

__all__ = ["ReplayWorker", "run_group"]


class ReplayWorker:
    """A loaded model with the experiment's encoded examples and before-scores.

    Built once per process (the local executor: once; Ray: once per worker task).
    """

    def __init__(self, plan: ReplayPlan, before: np.ndarray | None = None) -> None:
        from forgetmap.lm import encode_examples, load_model

        config = plan.config
        self.plan = plan
        self.loaded = load_model(
            config.model.id,
            dtype=config.model.dtype,
            device=config.model.device,
            trust_remote_code=config.model.trust_remote_code,
        )
        tokenizer = self.loaded.tokenizer
        train_length = config.training.max_length
        score_length = config.scoring.max_length
        # Upstream examples: encoded for scoring (all of them) and for training (the pool).
        self.score_upstream = encode_examples(tokenizer, plan.upstream, max_length=score_length)
        self.train_upstream = encode_examples(tokenizer, plan.upstream, max_length=train_length)
        self.train_tasks = {
            task: encode_examples(tokenizer, examples, max_length=train_length)
            for task, examples in plan.tasks.items()
        }
        self.score_tasks = {
            task: encode_examples(tokenizer, examples, max_length=score_length)
            for task, examples in plan.tasks.items()
        }
        self.before = before if before is not None else self.score(self.score_upstream)
        self._predictor: Any = None

    def score(self, encoded: list[Any]) -> np.ndarray:
        """Mean NLL of each encoded example under the current weights, shape (n,)."""
        from forgetmap.lm import score_nll

        return score_nll(self.loaded, encoded, **self.plan.config.scoring.batching())

    @property
    def predictor(self) -> Any:
        if self._predictor is None:
            from forgetmap.replay._predictor import PoolPredictor

            settings = self.plan.config.replay
            self._predictor = PoolPredictor(
                self.plan.store_path,
                self.plan.example_ids,
                self.plan.pool,
                method=settings.predictor,
                k=settings.k,
                probe=settings.probe,
            )
        return self._predictor


def run_group(
    worker: ReplayWorker,
    task: str,
    seed: int,
    store: Any,
    *,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run every unfinished sampler of one (task, seed) pair, writing each run's row."""
    plan = worker.plan
    runs = [u for u in plan.runs if u.task == task and u.seed == seed]
    for run in runs:
        if store.is_finished(run.id):
            continue
        if progress is not None:
            progress(run.id)
        forgetting, summary = _run_one(worker, run, store)
        after = worker.before + forgetting
        store.write_row(run.id, forgetting, after={"nll": after}, summary=summary)


def _run_one(worker: ReplayWorker, run: ReplayRun, store: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Fine-tune one run with its sampler's replay; its forgetting and its row summary."""
    from forgetmap.lm import task_batches

    plan = worker.plan
    # Every sampler of a (task, seed) pair shares the adapter initialisation and task order.
    training = dataclasses.replace(plan.config.training.settings(), seed=run.seed)
    rng = np.random.default_rng([run.seed, _stable_int(run.task), SAMPLERS.index(run.sampler)])
    batches = task_batches(worker.train_tasks[run.task], training, seed=run.seed)
    budget = 0 if run.sampler == "none" else plan.budget
    online = plan.config.replay.mode == "online" and run.sampler in PREDICTED_SAMPLERS
    if online:
        replay = _OnlineReplay(worker, run, batches, budget, rng)
    else:
        replay = _OfflineReplay(worker, run, store, batches, budget, rng)
    after, task_loss, result, timings = _train_and_score(worker, run, replay, training)
    chosen, summary = replay.finish()
    n_replayed = sum(len(batch) for batch in replay.stream) - sum(len(b) for b in batches)
    if n_replayed != budget:
        raise RuntimeError(f"{run.id}: {n_replayed} replay examples streamed, {budget} planned")
    info = result.to_dict()
    summary = {
        "first_loss": info.get("first_loss"),
        "last_loss": info.get("last_loss"),
        "loss_drop": _drop(info.get("first_loss"), info.get("last_loss")),
        "steps": info.get("steps"),
        "tokens": info.get("tokens"),
        **timings,
        "task_loss": task_loss,
        "n_replayed": n_replayed,
        "replayed": [plan.example_ids[plan.pool[p]] for p in chosen],
        **summary,
    }
    return after - worker.before, summary


def _train_and_score(
    worker: ReplayWorker, run: ReplayRun, replay: Any, training: Any
) -> tuple[np.ndarray, float, Any, dict[str, float]]:
    """Train on the replay's stream from the base weights, then score upstream and the task."""
    from forgetmap.lm import base_weights, finetune

    started = time.perf_counter()
    with base_weights(worker.loaded, training):
        result = finetune(worker.loaded, replay.stream, training, on_step=replay.on_step)
        trained = time.perf_counter() - started
        after = worker.score(worker.score_upstream)
        task_loss = float(np.nanmean(worker.score(worker.score_tasks[run.task])))
    scored = time.perf_counter() - started - trained
    return after, task_loss, result, {"train_seconds": trained, "score_seconds": scored}


class _OfflineReplay:
    """Replay chosen before training: at random, or by forgetting of the finished plain run."""

    on_step = None

    def __init__(
        self,
        worker: ReplayWorker,
        run: ReplayRun,
        store: Any,
        batches: list[list[Any]],
        budget: int,
        rng: np.random.Generator,
    ) -> None:
        plan = worker.plan
        settings = plan.config.replay
        pool = plan.pool
        self.summary: dict[str, Any] = {}
        if run.sampler == "none":
            self.chosen = np.zeros(0, dtype=np.int64)
        elif run.sampler == "random":
            self.chosen = draw_replay("random", pool.size, budget, seed=rng)
        else:
            plain = _plain_forgetting(store, run)
            scores = plain[pool]
            if run.sampler != "ground_truth":
                predictor = worker.predictor
                probes = predictor.probes(run.task, run.seed)
                scores = predictor.predict(run.task, probes, plain[pool[probes]])
                self.summary["probes"] = [plan.example_ids[pool[p]] for p in probes]
                self.summary["prediction_spearman"] = _spearman(scores, plain[pool])
            self.chosen = draw_replay(
                run.sampler,
                pool.size,
                budget,
                scores=scores,
                temperature=settings.temperature,
                directions=_directions(worker, run),
                seed=rng,
            )
        if budget:
            slots = replay_slots([len(b) for b in batches], settings.ratio)
            examples = [worker.train_upstream[pool[p]] for p in self.chosen]
            self.stream = interleave(batches, examples, slots)
        else:
            self.stream = [list(batch) for batch in batches]

    def finish(self) -> tuple[np.ndarray, dict[str, Any]]:
        return self.chosen, self.summary


class _OnlineReplay:
    """Random replay for the first steps, then probes on the model being trained decide the rest.

    ``on_step`` is called by the training loop; at the probe step it scores the k probes,
    predicts the pool and fills the rest of the stream's replay slots by the predictions.
    """

    def __init__(
        self,
        worker: ReplayWorker,
        run: ReplayRun,
        batches: list[list[Any]],
        budget: int,
        rng: np.random.Generator,
    ) -> None:
        settings = worker.plan.config.replay
        self.worker, self.run, self.budget, self.rng = worker, run, budget, rng
        self.slots = replay_slots([len(b) for b in batches], settings.ratio)
        self.warm_steps = max(1, math.ceil(settings.online_fraction * len(batches)))
        self.warm_budget = int(self.slots[: self.warm_steps].sum())
        pool = worker.plan.pool
        self.chosen = draw_replay("random", pool.size, self.warm_budget, seed=rng)
        self.stream = interleave(
            batches[: self.warm_steps],
            [worker.train_upstream[pool[p]] for p in self.chosen],
            self.slots[: self.warm_steps],
        ) + [list(batch) for batch in batches[self.warm_steps :]]
        self.later: np.ndarray | None = None
        self.probes: np.ndarray | None = None

    def on_step(self, step: int, loaded: Any) -> None:
        if step != self.warm_steps:
            return
        worker, run = self.worker, self.run
        pool = worker.plan.pool
        predictor = worker.predictor
        self.probes = predictor.probes(run.task, run.seed)
        columns = pool[self.probes]
        measured = worker.score([worker.score_upstream[c] for c in columns])
        predicted = predictor.predict(run.task, self.probes, measured - worker.before[columns])
        self.later = draw_replay(
            run.sampler,
            pool.size,
            self.budget - self.warm_budget,
            scores=predicted,
            temperature=worker.plan.config.replay.temperature,
            directions=_directions(worker, run),
            seed=self.rng,
        )
        start = 0
        for t in range(self.warm_steps, len(self.stream)):
            count = int(self.slots[t])
            self.stream[t].extend(
                worker.train_upstream[pool[p]] for p in self.later[start : start + count]
            )
            start += count

    def finish(self) -> tuple[np.ndarray, dict[str, Any]]:
        if self.later is None or self.probes is None:
            raise RuntimeError("online replay: the training run ended before the probe step")
        plan = self.worker.plan
        summary = {
            "probes": [plan.example_ids[plan.pool[p]] for p in self.probes],
            "probe_step": self.warm_steps,
        }
        return np.concatenate([self.chosen, self.later]), summary


def _directions(worker: ReplayWorker, run: ReplayRun) -> np.ndarray | None:
    """The pool's directions for ``predicted_directions`` (None for the other samplers)."""
    if run.sampler != "predicted_directions":
        return None
    return worker.predictor.directions(run.task)


def _plain_forgetting(store: Any, run: ReplayRun) -> np.ndarray:
    """The plain run's forgetting of every upstream example (written earlier in the group)."""
    from forgetmap.replay._plan import run_id

    plain = run_id(run.task, run.seed, "none")
    if not store.is_finished(plain):
        raise RuntimeError(f"{run.id} needs the plain run {plain!r}, which is not finished")
    return np.asarray(store.row(plain), dtype=np.float64)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _drop(first: Any, last: Any) -> float | None:
    if first is None or last is None:
        return None
    return float(first) - float(last)


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def load_before(store: Any) -> np.ndarray | None:
    """The before-scores already in the result store, or None."""
    return np.asarray(store.before(), dtype=np.float64) if store.has_before() else None


def result_path(out: Path) -> Path:
    return Path(out) / "replay.json"
