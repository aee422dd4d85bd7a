"""The list of subcommands; each module exposes ``register(app)``.

Importing a command module must stay cheap: heavy libraries are imported inside the command.
"""

from __future__ import annotations

from forgetmap.cli.analyze_cmd import register as register_analyze
from forgetmap.cli.collect_cmd import register as register_collect
from forgetmap.cli.evaluate_cmd import register as register_evaluate
from forgetmap.cli.export_cmd import register as register_export
from forgetmap.cli.finetune_cmd import register as register_finetune
from forgetmap.cli.forecast_cmd import register as register_forecast
from forgetmap.cli.import_cmd import register as register_import
from forgetmap.cli.info_cmd import register as register_info
from forgetmap.cli.replay_cmd import register as register_replay
from forgetmap.cli.replay_set_cmd import register as register_replay_set
from forgetmap.cli.report_cmd import register as register_report
from forgetmap.cli.similarity_cmd import register as register_similarity
from forgetmap.cli.synth_cmd import register as register_synth

REGISTRY = [
    register_collect,
    register_import,
    register_export,
    register_info,
    register_synth,
    register_similarity,
    register_analyze,
    register_evaluate,
    register_finetune,
    register_forecast,
    register_report,
    register_replay,
    register_replay_set,
]
