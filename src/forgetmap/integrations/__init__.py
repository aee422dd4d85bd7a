"""Use forgetmap inside other training libraries; each integration is imported on its own.

``forgetmap.integrations.transformers`` mixes replay into a ``transformers.Trainer`` (and TRL's
``SFTTrainer``). Nothing here is imported by ``import forgetmap``.
"""
