"""Mitigate forgetting by targeted replay: samplers, the interleaved stream, the experiment.

During fine-tuning on a new task, upstream examples are replayed at a fixed ratio; the samplers
choose which (at random, or weighted by predicted or measured forgetting), and the experiment
tests whether targeted replay forgets less than random replay on held-out examples.
"""

from forgetmap.replay._config import (
    ReplayConfig,
    ReplaySettings,
    load_replay_config,
    parse_replay_config,
)
from forgetmap.replay._experiment import run_replay
from forgetmap.replay._plan import ReplayPlan, plan_replay
from forgetmap.replay._replay_set import (
    SET_SAMPLERS,
    ReplaySet,
    choose_replay_set,
    replay_set,
    replay_set_budget,
    write_replay_set,
)
from forgetmap.replay._samplers import (
    PREDICTED_SAMPLERS,
    SAMPLERS,
    WEIGHTED_SAMPLERS,
    cover_directions,
    draw_replay,
    softmax_weights,
)
from forgetmap.replay._stats import (
    bootstrap_ci,
    cohens_dz,
    holm,
    minimum_detectable_effect,
    paired_ttest,
    rank_biserial,
    reduction_ci,
    wilcoxon_paired,
)
from forgetmap.replay._stream import (
    as_fraction,
    interleave,
    replay_budget,
    replay_count,
    replay_slots,
    split_pool,
)
from forgetmap.replay._summary import RunResult, comparisons, summarise

__all__ = [
    "PREDICTED_SAMPLERS",
    "SAMPLERS",
    "SET_SAMPLERS",
    "WEIGHTED_SAMPLERS",
    "ReplayConfig",
    "ReplayPlan",
    "ReplaySet",
    "ReplaySettings",
    "RunResult",
    "as_fraction",
    "bootstrap_ci",
    "choose_replay_set",
    "cohens_dz",
    "comparisons",
    "cover_directions",
    "draw_replay",
    "holm",
    "interleave",
    "load_replay_config",
    "minimum_detectable_effect",
    "paired_ttest",
    "parse_replay_config",
    "plan_replay",
    "rank_biserial",
    "reduction_ci",
    "replay_budget",
    "replay_count",
    "replay_set",
    "replay_set_budget",
    "replay_slots",
    "run_replay",
    "softmax_weights",
    "split_pool",
    "summarise",
    "wilcoxon_paired",
    "write_replay_set",
]
