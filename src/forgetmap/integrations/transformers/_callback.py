"""``ForgetmapReplay``: a ``TrainerCallback`` that replays upstream examples while you train.

Replay in your own ``transformers.Trainer`` (or TRL ``SFTTrainer``): the callback wraps the
trainer's data collator, so every batch gets ``floor(ratio * task examples so far)`` upstream
examples of a forgetmap store in total, drawn at random. Online, at ``probe_step`` it scores the
store's k probes with the model being trained, folds them into the store's estimator (the code
path of ``forgetmap forecast``) and draws the rest of the replay by predicted forgetting; with a
forecast CSV it replays by prediction from the start.

Forgetting is only comparable when the trainer's model and tokenizer are the store's: the
tokenizer is checked on the store's token counts, and a fresh run's model on the store's
before-scores.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
from transformers import TrainerCallback

from forgetmap.errors import CheckpointMismatchError, ConfigError
from forgetmap.integrations.transformers._batches import append_replay
from forgetmap.integrations.transformers._mixer import ReplayMixer

__all__ = ["ForgetmapReplay"]

#: Upstream examples scored at the start of a fresh run to check the model is the store's.
CHECKED = 16


class ForgetmapReplay(TrainerCallback):
    """Mix replay of a store's upstream examples into a running ``Trainer``.

    Parameters
    ----------
    store : path-like or ForgettingStore
        A store made by ``forgetmap collect`` with the model being fine-tuned.
    ratio : float, Fraction or str
        Replay examples per training example, in (0, 1).
    sampler : {"predicted", "predicted_topk", "random"}
        How replay is drawn after the probe step (or from the start with ``forecast``).
    probe_step : int, optional
        Online: the optimizer step after which the probes are scored; default 10% of the
        run's steps (at least 1). Ignored with ``forecast`` and for ``random``.
    forecast : path-like, optional
        Offline: a ranking CSV from ``forgetmap forecast`` of this store.
    k, probe, method
        Probes and estimator, as ``forgetmap forecast --k --probe --method``.
    temperature : float
        T of ``softmax(forgetting / T)`` for ``predicted``.
    seed : int
        Seeds the probes, the estimator and every draw.
    max_length : int, optional
        Tokens per replay example (default: the store's ``training.max_length``).
    tolerance : float
        Largest mean |NLL difference| (nats) between the trainer's model at step 0 and the
        store's before-scores: above it the model is not the store's base model.
    base_dir : path-like, optional
        Where the store config's relative data paths resolve (default: as collect recorded).

    Use :meth:`attach` on a trainer before ``trainer.train()``; afterwards :attr:`replayed_ids`
    holds what was replayed and :meth:`summary` the settings, probes and predictions.
    """

    def __init__(
        self,
        store: Any,
        *,
        ratio: float | Fraction | str = 0.125,
        sampler: str = "predicted",
        probe_step: int | None = None,
        forecast: str | os.PathLike[str] | None = None,
        k: int = 30,
        probe: str = "active",
        method: str | None = None,
        temperature: float = 0.05,
        seed: int = 0,
        max_length: int | None = None,
        tolerance: float = 0.1,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from forgetmap.forecast import DEFAULT_METHOD, Forecaster, ranked_forgetting, read_ranking
        from forgetmap.replay._replay_set import SET_SAMPLERS
        from forgetmap.replay._samplers import _check_temperature
        from forgetmap.replay._stream import as_fraction
        from forgetmap.store import ForgettingStore, open_store
        from forgetmap.stored_run import stored_run

        # cheap checks first, in the order a user reads the arguments
        self.fraction = as_fraction(ratio)
        if sampler not in SET_SAMPLERS:
            raise ConfigError(
                f"sampler {sampler!r} cannot replay in a trainer; use {', '.join(SET_SAMPLERS)}"
            )
        _check_temperature(temperature)
        if probe_step is not None and probe_step < 1:
            raise ConfigError(f"probe_step must be at least 1, got {probe_step}")
        if not tolerance > 0:
            raise ConfigError(f"tolerance must be > 0 nats, got {tolerance}")
        self.store = store if isinstance(store, ForgettingStore) else open_store(store)
        self.sampler = sampler
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.tolerance = float(tolerance)
        self.probe_step = probe_step
        self.forecaster: Forecaster | None = None
        self.offline_scores: np.ndarray | None = None
        if sampler != "random" and forecast is not None:
            ranking = read_ranking(forecast, self.store)
            self.offline_scores = ranked_forgetting(ranking, self.store.example_ids)
        elif sampler != "random":
            self.forecaster = Forecaster(
                self.store, k=k, probe=probe, method=method or DEFAULT_METHOD, seed=seed
            )
        self.run = stored_run(self.store, base_dir)
        self.max_length = max_length or self.run.config.training.max_length
        self.mixer: ReplayMixer | None = None
        self.predicted: np.ndarray | None = None
        self._tokenizer: Any = None
        self._score_encoded: list[Any] = []
        self._train_encoded: list[Any] = []
        self._pad_id = 0
        self._before: np.ndarray | None = None
        self._trained_batches = 0

    # ------------------------------------------------------------------ setting up
    def attach(self, trainer: Any) -> ForgetmapReplay:
        """Replay in ``trainer``: wrap its data collator and add this callback; returns ``self``.

        The tokenizer is checked against the store here, before training starts.
        """
        tokenizer = getattr(trainer, "processing_class", None) or getattr(
            trainer, "tokenizer", None
        )
        if tokenizer is None:
            raise ConfigError(
                "the trainer has no tokenizer (processing_class); pass the tokenizer to it"
            )
        self.prepare(tokenizer)
        trainer.data_collator = self.wrap(trainer.data_collator)
        trainer.add_callback(self)
        return self

    def prepare(self, tokenizer: Any) -> None:
        """Encode the upstream examples with the trainer's tokenizer and check it is the store's.

        Raises
        ------
        CheckpointMismatchError
            The tokenizer splits the store's examples into other tokens than the store's model.
        """
        from forgetmap.lm import encode_examples
        from forgetmap.lm._batch import pad_id

        upstream = self.run.plan.upstream
        scored = encode_examples(tokenizer, upstream, max_length=self.run.config.scoring.max_length)
        examples = self.store.examples()
        if "n_tokens" in examples.columns:
            counts = [example.n_scored for example in scored]
            differ = [
                example.id
                for example, count, stored in zip(
                    upstream, counts, examples["n_tokens"], strict=True
                )
                if int(stored) != count
            ]
            if differ:
                raise CheckpointMismatchError(
                    f"the trainer's tokenizer splits {len(differ)} of the {len(upstream)} upstream "
                    f"examples of store {str(self.store.path)!r} into other tokens than the "
                    f"store's model {self.run.config.model.id!r} (e.g. {differ[0]!r}): train "
                    "with that model and its tokenizer, or collect a store with yours"
                )
        self._tokenizer = tokenizer
        self._score_encoded = scored
        self._train_encoded = encode_examples(tokenizer, upstream, max_length=self.max_length)
        self._pad_id = pad_id(tokenizer)

    def wrap(self, collator: Callable[[list[Any]], Any] | None) -> Callable[[list[Any]], Any]:
        """A data collator that adds this callback's replay rows to each batch of ``collator``."""
        from transformers import default_data_collator

        inner = collator or default_data_collator

        def collate(features: list[Any]) -> dict[str, Any]:
            batch = inner(features)
            if self.mixer is None:
                raise ConfigError(
                    "the replay collator ran before training began: add the ForgetmapReplay "
                    "callback to the trainer (replay.attach(trainer) does both)"
                )
            n_task = int(batch["input_ids"].shape[0])
            positions = self.mixer.take(n_task)
            return append_replay(batch, [self._train_encoded[p] for p in positions], self._pad_id)

        collate.forgetmap_replay = self  # type: ignore[attr-defined]
        return collate

    # ------------------------------------------------------------------ trainer events
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Plan the replay, check the model against the store, set the probe step."""
        if self._tokenizer is None:
            tokenizer = kwargs.get("processing_class") or kwargs.get("tokenizer")
            if tokenizer is None:
                raise ConfigError("ForgetmapReplay needs the trainer's tokenizer: use attach()")
            self.prepare(tokenizer)
        if getattr(args, "dataloader_num_workers", 0):
            raise ConfigError(
                "ForgetmapReplay chooses replay in the main process: set "
                "dataloader_num_workers=0 (replay examples are tokenised already)"
            )
        from forgetmap.replay._stream import replay_count

        per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
        # The data loader may collate one batch ahead of the optimizer step.
        most = state.max_steps * per_step + args.per_device_train_batch_size
        self.mixer = ReplayMixer(
            len(self._train_encoded),
            self.fraction,
            capacity=max(1, replay_count(most, self.fraction)),
            seed=[self.seed, int(getattr(args, "process_index", 0))],
        )
        self._trained_batches = 0
        model = kwargs.get("model")
        if self.forecaster is not None:
            self.forecaster.fit()
            if self.probe_step is None:
                self.probe_step = max(1, math.ceil(0.1 * state.max_steps))
            if self.probe_step > state.max_steps:
                raise ConfigError(
                    f"probe_step {self.probe_step} is after the run's last step "
                    f"({state.max_steps}): replay would never be targeted; choose an earlier one"
                )
        if model is not None and state.global_step == 0:
            self._check_model(model)
        if self.offline_scores is not None:
            self.mixer.switch(self.sampler, self.offline_scores, self.temperature)
            self.predicted = self.offline_scores

    def on_substep_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._trained_batches += 1

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Count the batch; at the probe step, score the probes, predict and switch."""
        self._trained_batches += 1
        if self.forecaster is None or self.predicted is not None:
            return
        if state.global_step != self.probe_step:
            return
        forecaster = self.forecaster
        after = self._score(kwargs["model"], forecaster.probes_)
        measured = forecaster.measured(after, self._before)
        predicted, _, _ = forecaster.predict(measured)
        predicted = np.asarray(predicted, dtype=np.float64).copy()
        predicted[forecaster.probes_] = measured  # the measured value beats a prediction
        self.predicted = predicted
        assert self.mixer is not None
        self.mixer.switch(self.sampler, predicted, self.temperature)

    # ------------------------------------------------------------------ results
    @property
    def replayed_ids(self) -> list[str]:
        """Ids of the upstream examples replayed in the batches trained on so far, in order."""
        if self.mixer is None:
            return []
        ids = self.store.example_ids
        return [ids[p] for batch in self.mixer.batches[: self._trained_batches] for p in batch]

    @property
    def task_examples(self) -> int:
        """Training examples of the user's data in the batches trained on so far."""
        if self.mixer is None:
            return 0
        return int(sum(self.mixer.task_counts[: self._trained_batches]))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready record of the replay: settings, probes, predictions and replayed ids."""
        forecaster = self.forecaster
        ids = self.store.example_ids
        if forecaster is not None:
            mode = "online"
        else:
            mode = "offline" if self.offline_scores is not None else "random"
        probes = getattr(forecaster, "probes_", None)
        predicted = None if self.predicted is None else self.predicted.tolist()
        return {
            "store": str(self.store.path),
            "sampler": self.sampler,
            "ratio": str(self.fraction),
            "temperature": self.temperature,
            "seed": self.seed,
            "mode": mode,
            "probe_step": self.probe_step if forecaster is not None else None,
            "probes": None if probes is None else [ids[j] for j in probes],
            "switched_at": None if self.mixer is None else self.mixer.switched_at,
            "task_examples": self.task_examples,
            "replayed": self.replayed_ids,
            "predicted": None if predicted is None else dict(zip(ids, predicted, strict=True)),
        }

    # ------------------------------------------------------------------ helpers
    def _score(self, model: Any, columns: np.ndarray) -> np.ndarray:
        from forgetmap.lm import LoadedModel, score_nll

        device = next(model.parameters()).device
        loaded = LoadedModel(model=model, tokenizer=self._tokenizer, device=device, name="trainer")
        encoded = [self._score_encoded[j] for j in columns]
        return score_nll(loaded, encoded, **self.run.config.scoring.batching())

    def _check_model(self, model: Any) -> None:
        """Refuse a model whose untrained NLLs are not the store's before-scores."""
        n_examples = self.store.shape[1]
        if self.forecaster is not None:
            columns = self.forecaster.probes_
        else:
            columns = np.unique(
                np.linspace(0, n_examples - 1, min(CHECKED, n_examples)).astype(int)
            )
        ours = self._score(model, columns)
        stored = self.store.before("nll")[columns].astype(np.float64)
        gap = float(np.nanmean(np.abs(ours - stored)))
        if not gap <= self.tolerance:
            raise CheckpointMismatchError(
                f"the trainer's model is not the base model of store {str(self.store.path)!r} "
                f"({self.run.config.model.id!r}): before training, its NLL on {columns.size} "
                f"upstream examples differs from the store's by {gap:.3g} nats on average "
                f"(tolerance {self.tolerance:g}); train that model, or collect a store with yours"
            )
        if self.forecaster is not None:
            self._before = ours  # the probes' before, in the trainer's own numerics
