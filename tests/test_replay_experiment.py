"""The replay experiment end to end on ``tiny-random``: streams, budgets, resume, determinism."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import forgetmap.lm
from forgetmap.replay import load_replay_config, plan_replay, run_replay
from forgetmap.store import create_store, open_store

CONFIG = """
seed = 0
[model]
id = "tiny-random"
[upstream]
n = 16
sources = [{{ kind = "pydoc", chunk_chars = 120 }}]
[[tasks]]
id = "french"
source = {{ kind = "chatterbot", language = "french", n = 8 }}
[training]
learning_rate = 1e-3
steps = 4
batch_size = 4
max_length = 32
warmup_steps = 1
[scoring]
max_length = 32
batch_size = 16
[replay]
ratio = {ratio}
samplers = {samplers}
temperature = 0.05
k = 4
mode = "{mode}"
seeds = {seeds}
heldout = 5
predictor = "additive"
store = "predictions"
bootstrap = 200
{extra}
"""

ALL = '["none", "random", "predicted", "predicted_topk", "ground_truth"]'


def write_config(
    folder: Path,
    *,
    ratio: str = "0.25",
    samplers: str = ALL,
    mode: str = "offline",
    seeds: str = "[0, 1]",
    extra: str = "",
    model: str = "tiny-random",
) -> Path:
    """A replay config in ``folder`` with a predictions store of 6 tasks beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "replay.toml"
    path.write_text(
        CONFIG.format(ratio=ratio, samplers=samplers, mode=mode, seeds=seeds, extra=extra)
    )
    store = folder / "predictions"
    if not store.exists():
        ids = upstream_ids()
        rng = np.random.default_rng(0)
        # Additive structure (task effect + example effect), as forgetting roughly has.
        values = rng.normal(0, 0.1, (6, 1)) + rng.normal(0.2, 0.3, (1, len(ids)))
        create_store(
            store,
            [f"t{i}" for i in range(6)],
            ids,
            config={"model": {"id": model}},
            forgetting=values + rng.normal(0, 0.01, values.shape),
        )
    return path


def upstream_ids() -> list[str]:
    """The ids of the config's 16 upstream examples."""
    from forgetmap.config import UpstreamConfig
    from forgetmap.data import select_upstream

    upstream = UpstreamConfig(n=16, sources=[{"kind": "pydoc", "chunk_chars": 120}])
    return [e.id for e in select_upstream(upstream, ".", seed=0)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, here and in the killed subprocess: bit-identical results need the same
    thread count, and on a busy 2-core machine one thread is also the fastest."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory, one_thread):
    """One full offline experiment; every training stream it used is recorded."""
    folder = tmp_path_factory.mktemp("replay")
    path = write_config(folder)
    streams: list[tuple[list[str], list[list[str]]]] = []
    real = forgetmap.lm.finetune
    task_ids = {e.id for e in plan_replay(*load_replay_config(path)).tasks["french"]}

    def recording(loaded, batches, settings, **kwargs):
        result = real(loaded, batches, settings, **kwargs)
        # After training, so that replay filled in during training (online) is included.
        streams.append([[e.id for e in batch] for batch in batches])
        return result

    forgetmap.lm.finetune = recording
    try:
        doc = run_replay(path, folder / "out")
    finally:
        forgetmap.lm.finetune = real
    return folder, path, doc, streams, task_ids


def test_pool_and_heldout_are_disjoint_and_never_replayed(experiment):
    folder, _path, _doc, streams, _ = experiment
    store = open_store(folder / "out")
    split = store.examples()["split"]
    heldout = set(split.index[split == "heldout"])
    pool = set(split.index[split == "pool"])
    assert len(heldout) == 5 and len(pool) == 11 and not heldout & pool
    for task_id in store.task_ids:
        assert not set(store.summary(task_id)["replayed"]) & heldout
    for stream in streams:
        assert not {i for batch in stream for i in batch} & heldout


def test_the_result_store_is_labelled_as_replay_results(experiment):
    """Its rows are the runs of one experiment, not collected tasks (forecast refuses it)."""
    folder, _path, _doc, _streams, _ = experiment
    assert open_store(folder / "out").kind == "replay"


def test_realised_replay_ratio_is_exact(experiment):
    _, _, _doc, streams, task_ids = experiment
    assert len(streams) == 10  # 1 task × 2 seeds × 5 samplers
    replaying = 0
    for stream in streams:
        n_task = sum(i in task_ids for batch in stream for i in batch)
        n_replay = sum(i not in task_ids for batch in stream for i in batch)
        assert n_task == 16
        if n_replay:
            replaying += 1
            assert Fraction(n_replay, n_task) == Fraction(1, 4)
            # and in every prefix of the stream: floor(ratio · task examples so far)
            seen_task = seen_replay = 0
            for batch in stream:
                seen_task += sum(i in task_ids for i in batch)
                seen_replay += sum(i not in task_ids for i in batch)
                assert seen_replay == seen_task // 4
    assert replaying == 8


def test_budgets_are_equal_and_the_task_stream_is_shared(experiment):
    folder, _, _doc, streams, task_ids = experiment
    store = open_store(folder / "out")
    budgets = {t: store.summary(t)["n_replayed"] for t in store.task_ids}
    assert {b for t, b in budgets.items() if not t.endswith("/none")} == {4}
    assert all(budgets[t] == 0 for t in budgets if t.endswith("/none"))
    assert all(len(store.summary(t)["replayed"]) == budgets[t] for t in budgets)
    # Every sampler of a seed trains on the same task examples in the same order.
    by_seed: dict[int, list] = {}
    for index, stream in enumerate(streams):
        task_part = [[i for i in batch if i in task_ids] for batch in stream]
        by_seed.setdefault(index // 5, []).append(task_part)
    for parts in by_seed.values():
        assert all(part == parts[0] for part in parts)


def test_result_document(experiment):
    folder, _, doc, _, _ = experiment
    on_disk = json.loads((folder / "out" / "replay.json").read_text())
    assert on_disk == doc
    assert set(doc["samplers"]) == {"none", "random", "predicted", "predicted_topk", "ground_truth"}
    for entry in doc["samplers"].values():
        assert {"heldout_forgetting_mean", "heldout_forgetting_std", "task_loss_mean"} <= set(entry)
        assert entry["n_runs"] == 2 and np.isfinite(entry["task_loss_mean"])
    keys = {"a", "b", "statistic", "p_value", "effect_size", "ci_low", "ci_high"}
    assert doc["tests"] and all(keys <= set(t) for t in doc["tests"])
    assert open_store(folder / "out").load_json("replay")["samplers"] == on_disk["samplers"]
    assert doc["settings"]["budget"] == 4 and doc["settings"]["complete"]
    # the additive predictions rank the plain run's pool forgetting somewhat (tiny model: weakly)
    assert set(doc["prediction_spearman"]) == {"predicted", "predicted_topk"}


def test_rerun_of_a_finished_experiment_is_identical(experiment):
    folder, path, doc, _, _ = experiment
    before = open_store(folder / "out").forgetting()
    again = run_replay(path, folder / "out")
    assert np.array_equal(open_store(folder / "out").forgetting(), before)
    assert again == doc


def test_two_runs_identical_and_resume_after_sigkill(experiment, tmp_path):
    folder, path, doc, _, _ = experiment
    out = tmp_path / "killed"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(forgetmap.lm.__file__).parents[2]),
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "forgetmap", "replay", str(path), "--out", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rows = out / "rows"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if rows.exists() and len([p for p in rows.iterdir() if p.suffix == ".json"]) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = open_store(out).finished()
    assert 3 <= len(finished) < 10
    resumed = run_replay(path, out)
    reference = open_store(folder / "out")
    store = open_store(out)
    assert store.finished() == reference.finished()
    assert np.array_equal(store.forgetting(), reference.forgetting())
    for task_id in store.task_ids:
        a, b = store.summary(task_id), reference.summary(task_id)
        assert a["replayed"] == b["replayed"] and a["task_loss"] == b["task_loss"]
    assert resumed["samplers"] == doc["samplers"] and resumed["tests"] == doc["tests"]


def test_online_mode_probes_during_training(tmp_path):
    path = write_config(
        tmp_path, mode="online", samplers='["random", "predicted"]', seeds="[3]", ratio="0.125"
    )
    config, base = load_replay_config(path)
    plan = plan_replay(config, base)
    assert [u.sampler for u in plan.runs] == ["random", "predicted"]  # no plain run needed
    doc = run_replay(path, tmp_path / "out")
    summary = open_store(tmp_path / "out").summary("french/seed3/predicted")
    assert summary["probe_step"] == 1 and len(summary["probes"]) == 4
    assert summary["n_replayed"] == 2 and len(summary["replayed"]) == 2
    assert doc["settings"]["mode"] == "online"


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_the_directions_sampler_replays_by_the_store_factors(tmp_path, mode):
    path = write_config(
        tmp_path, mode=mode, samplers='["random", "predicted_directions"]', seeds="[3]"
    )
    config, base = load_replay_config(path)
    plan = plan_replay(config, base)
    expected = ["random", "predicted_directions"]
    assert [u.sampler for u in plan.runs] == (
        ["none", *expected] if mode == "offline" else expected
    )
    doc = run_replay(path, tmp_path / "out")
    summary = open_store(tmp_path / "out").summary("french/seed3/predicted_directions")
    assert len(set(summary["replayed"])) == len(summary["replayed"]) == plan.budget
    assert set(summary["replayed"]) <= {plan.example_ids[j] for j in plan.pool}
    assert "predicted_directions" in doc["samplers"]
    assert any(t["a"] == "predicted_directions" and t["b"] == "random" for t in doc["tests"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ratio": "0"}, "replay.ratio: must be > 0 and < 1"),
        ({"ratio": "1.0"}, "replay.ratio: must be > 0 and < 1"),
        ({"ratio": "0.3"}, "not a whole number"),
        ({"extra": "temperature_ = 1"}, "unknown key"),
        ({"extra": "heldout_ids = []\n"}, "held-out set is empty"),
        (
            {"extra": 'heldout_ids = ["pydoc/if/0"]\npool_ids = ["pydoc/if/0"]'},
            "overlaps the replay pool",
        ),
    ],
)
def test_bad_replay_settings_exit_2(cli, tmp_path, changes, message):
    if changes.get("extra", "").startswith("heldout_ids"):
        # name an id that exists: the first upstream example
        changes = {"extra": changes["extra"].replace("pydoc/if/0", upstream_ids()[0])}
    text = write_config(tmp_path, **changes).read_text()
    if "heldout_ids" in text:
        text = text.replace("heldout = 5\n", "")
        (tmp_path / "replay.toml").write_text(text)
    result = cli("replay", tmp_path / "replay.toml", "--out", tmp_path / "out")
    assert result.code == 2, result.err
    assert message in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("temperature", ["0", "-0.5"])
def test_temperature_must_be_positive(cli, tmp_path, temperature):
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("temperature = 0.05", f"temperature = {temperature}"))
    result = cli("replay", path, "--out", tmp_path / "out")
    assert result.code == 2 and "temperature T must be > 0" in result.err


def test_predictions_store_of_another_base_model_is_refused(cli, tmp_path):
    path = write_config(tmp_path, model="smollm2-135m-instruct")
    result = cli("replay", path, "--out", tmp_path / "out")
    assert result.code == 2
    assert "built with base model 'smollm2-135m-instruct'" in result.err
    assert not (tmp_path / "out").exists()


def test_output_of_another_experiment_is_refused(cli, experiment, tmp_path):
    folder, _, _, _, _ = experiment
    path = write_config(tmp_path, seeds="[5]")
    result = cli("replay", path, "--out", folder / "out")
    assert result.code == 2 and "different config" in result.err


@pytest.mark.slow  # starting Ray costs 15-60 s on a 2-core machine: run by `make test-slow`
def test_ray_executor_gives_the_local_result(tmp_path):
    pytest.importorskip("ray")
    path = write_config(tmp_path, samplers='["random", "ground_truth"]', seeds="[0]")
    local = run_replay(path, tmp_path / "local", threads=1)
    on_ray = run_replay(path, tmp_path / "ray", executor="ray", threads=1)
    a, b = open_store(tmp_path / "local"), open_store(tmp_path / "ray")
    assert b.finished() == a.finished() == list(a.task_ids)
    assert np.array_equal(a.forgetting(), b.forgetting())
    assert on_ray["samplers"] == local["samplers"]


def test_bad_executor_options(cli, tmp_path):
    path = write_config(tmp_path)
    result = cli("replay", path, "--out", tmp_path / "out", "--ray-address", "auto")
    assert result.code == 2 and "--ray-address needs --executor ray" in result.err


def test_cli_prints_a_table_and_json(cli, experiment):
    folder, path, doc, _, _ = experiment
    result = cli("replay", path, "--out", folder / "out")
    assert result.code == 0, result.err
    assert "ground_truth" in result.out and "Wilcoxon" in result.out
    result = cli("--format", "json", "replay", path, "--out", folder / "out")
    assert result.code == 0 and json.loads(result.out) == doc


def test_unfinished_predictions_store_is_refused(cli, tmp_path):
    create_store(
        tmp_path / "predictions",
        ["a", "b", "c"],
        upstream_ids(),
        config={"model": {"id": "tiny-random"}},
    )
    path = write_config(tmp_path)
    result = cli("replay", path, "--out", tmp_path / "out")
    assert result.code == 2 and "3 unfinished task row(s)" in result.err
