"""Targeted replay inside a running ``transformers.Trainer`` (or TRL's ``SFTTrainer``).

:class:`ForgetmapReplay` is a ``TrainerCallback`` that also wraps the trainer's data collator:
every batch gets upstream examples of a forgetmap store added at a fixed ratio, drawn at random
at first and, online, by the forgetting predicted from k probes scored on the model being
trained at a chosen step. Importing this package is cheap; transformers is imported when the
callback class is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ForgetmapReplay", "ReplayMixer"]


def __getattr__(name: str) -> Any:
    # Lazy: `ForgetmapReplay` subclasses transformers.TrainerCallback, so it imports transformers.
    if name == "ForgetmapReplay":
        from forgetmap.integrations.transformers._callback import ForgetmapReplay

        return ForgetmapReplay
    if name == "ReplayMixer":
        from forgetmap.integrations.transformers._mixer import ReplayMixer

        return ReplayMixer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
