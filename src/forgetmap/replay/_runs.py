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

from forgetmap.replay._plan import ReplayPlan, Unit
from forgetmap.replay._samplers import SAMPLERS, draw_replay
from forgetmap.replay._stream import interleave, replay_slots

__all__ = ["Session", "run_group"]


class Session:
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

        return score_nll(self.loaded, encoded, batch_size=self.plan.config.scoring.batch_size)

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
    session: Session,
    task: str,
    seed: int,
    store: Any,
    *,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run every unfinished sampler of one (task, seed) pair, writing each run's row."""
    plan = session.plan
    units = [u for u in plan.units if u.task == task and u.seed == seed]
    for unit in units:
        if store.is_finished(unit.id):
            continue
        if progress is not None:
            progress(unit.id)
        forgetting, summary = _run_unit(session, unit, store)
        after = session.before + forgetting
        store.write_row(unit.id, forgetting, after={"nll": after}, summary=summary)


def _run_unit(session: Session, unit: Unit, store: Any) -> tuple[np.ndarray, dict[str, Any]]:
    from forgetmap.lm import base_weights, finetune, task_batches

    plan = session.plan
    config = plan.config
    settings = config.replay
    # Every sampler of a (task, seed) pair shares the adapter initialisation and task order.
    training = dataclasses.replace(config.training.settings(), seed=unit.seed)
    pool = plan.pool
    summary: dict[str, Any] = {}
    rng = np.random.default_rng([unit.seed, _stable_int(unit.task), SAMPLERS.index(unit.sampler)])

    batches = task_batches(session.train_tasks[unit.task], training, seed=unit.seed)
    budget = 0 if unit.sampler == "none" else plan.budget
    slots = replay_slots([len(b) for b in batches], settings.ratio) if budget else None
    on_step = None
    online = settings.mode == "online" and unit.sampler in ("predicted", "predicted_topk")

    if unit.sampler == "none":
        chosen = np.zeros(0, dtype=np.int64)
    elif unit.sampler == "random":
        chosen = draw_replay("random", pool.size, budget, seed=rng)
    elif unit.sampler == "ground_truth":
        plain = _plain_forgetting(store, unit)
        chosen = draw_replay(
            "ground_truth",
            pool.size,
            budget,
            scores=plain[pool],
            temperature=settings.temperature,
            seed=rng,
        )
    elif not online:
        plain = _plain_forgetting(store, unit)
        predictor = session.predictor
        probes = predictor.probes(unit.task, unit.seed)
        predicted = predictor.predict(unit.task, probes, plain[pool[probes]])
        chosen = draw_replay(
            unit.sampler,
            pool.size,
            budget,
            scores=predicted,
            temperature=settings.temperature,
            seed=rng,
        )
        summary["probes"] = [plan.example_ids[pool[p]] for p in probes]
        summary["prediction_spearman"] = _spearman(predicted, plain[pool])
    else:
        # Online: random replay for the first steps, then probes on the model being trained.
        warm_steps = max(1, math.ceil(settings.online_fraction * len(batches)))
        warm_budget = int(slots[:warm_steps].sum())
        chosen = draw_replay("random", pool.size, warm_budget, seed=rng)
        stream = interleave(
            batches[:warm_steps],
            [session.train_upstream[pool[p]] for p in chosen],
            slots[:warm_steps],
        ) + [list(batch) for batch in batches[warm_steps:]]
        state: dict[str, Any] = {}

        def on_step(step: int, loaded: Any) -> None:
            if step != warm_steps:
                return
            predictor = session.predictor
            probes = predictor.probes(unit.task, unit.seed)
            columns = pool[probes]
            measured = session.score([session.score_upstream[c] for c in columns])
            predicted = predictor.predict(unit.task, probes, measured - session.before[columns])
            later = draw_replay(
                unit.sampler,
                pool.size,
                budget - warm_budget,
                scores=predicted,
                temperature=settings.temperature,
                seed=rng,
            )
            start = 0
            for t in range(warm_steps, len(stream)):
                count = int(slots[t])
                stream[t].extend(
                    session.train_upstream[pool[p]] for p in later[start : start + count]
                )
                start += count
            state["later"] = later
            state["probes"] = probes
            state["predicted"] = predicted

    if not online:
        stream = (
            interleave(batches, [session.train_upstream[pool[p]] for p in chosen], slots)
            if budget
            else [list(batch) for batch in batches]
        )

    started = time.perf_counter()
    with base_weights(session.loaded, training):
        result = finetune(session.loaded, stream, training, on_step=on_step)
        trained = time.perf_counter() - started
        after = session.score(session.score_upstream)
        task_loss = float(np.nanmean(session.score(session.score_tasks[unit.task])))
    scored = time.perf_counter() - started - trained

    if online:
        if "later" not in state:
            raise RuntimeError("online replay: the training run ended before the probe step")
        chosen = np.concatenate([chosen, state["later"]])
        summary["probes"] = [plan.example_ids[pool[p]] for p in state["probes"]]
        summary["probe_step"] = warm_steps

    replayed = [plan.example_ids[pool[p]] for p in chosen]
    n_replayed = sum(len(batch) for batch in stream) - sum(len(batch) for batch in batches)
    if n_replayed != budget:
        raise RuntimeError(f"{unit.id}: {n_replayed} replay examples streamed, {budget} planned")
    info = result.to_dict()
    summary = {
        "first_loss": info.get("first_loss"),
        "last_loss": info.get("last_loss"),
        "loss_drop": _drop(info.get("first_loss"), info.get("last_loss")),
        "steps": info.get("steps"),
        "tokens": info.get("tokens"),
        "train_seconds": trained,
        "score_seconds": scored,
        "task_loss": task_loss,
        "n_replayed": n_replayed,
        "replayed": replayed,
        **summary,
    }
    return after - session.before, summary


def _plain_forgetting(store: Any, unit: Unit) -> np.ndarray:
    """The plain run's forgetting of every upstream example (written earlier in the group)."""
    from forgetmap.replay._plan import unit_id

    plain = unit_id(unit.task, unit.seed, "none")
    if not store.is_finished(plain):
        raise RuntimeError(f"{unit.id} needs the plain run {plain!r}, which is not finished")
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
