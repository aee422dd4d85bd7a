"""The list of subcommands; each module exposes ``register(app)``.

Importing a command module must stay cheap: heavy libraries are imported inside the command.
"""

from __future__ import annotations

from forgetmap.cli import (
    analyze_cmd,
    collect_cmd,
    evaluate_cmd,
    export_cmd,
    finetune_cmd,
    forecast_cmd,
    import_cmd,
    info_cmd,
    replay_cmd,
    replay_set_cmd,
    report_cmd,
    similarity_cmd,
    synth_cmd,
)

REGISTRY = [
    collect_cmd.register,
    import_cmd.register,
    export_cmd.register,
    info_cmd.register,
    synth_cmd.register,
    similarity_cmd.register,
    analyze_cmd.register,
    evaluate_cmd.register,
    finetune_cmd.register,
    forecast_cmd.register,
    report_cmd.register,
    replay_cmd.register,
    replay_set_cmd.register,
]
