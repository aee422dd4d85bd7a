"""`forgetmap collect` on tiny-random: signs, determinism, resume, executors, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from forgetmap.collect import TASK_TEXTS, collect, forgetting_rows, prepare_run
from forgetmap.config import load_config
from forgetmap.store import open_store

SRC = Path(__file__).resolve().parents[1] / "src"

HEAD = """
seed = 0
[model]
id = "{model}"
[upstream]
n = {n}
sources = [
  {{ kind = "pydoc", topics = ["if", "while", "for", "try"], chunk_chars = 80 }},
  {{ kind = "chatterbot", language = "english", categories = ["greetings", "history"] }},
]
"""
TASKS = [
    ("german", "language", '{ kind = "chatterbot", language = "german", n = 6 }'),
    (
        "money",
        "english-topic",
        '{ kind = "chatterbot", language = "english", categories = ["money"], n = 6 }',
    ),
    ("spanish", "language", '{ kind = "chatterbot", language = "spanish", n = 6 }'),
]
TAIL = """
[training]
learning_rate = 5e-3
steps = {steps}
batch_size = 2
max_length = 32
warmup_steps = 0
[scoring]
max_length = 32
batch_size = 8
"""


def _config(
    tmp_path: Path,
    name: str = "exp.toml",
    *,
    steps: int = 2,
    n: int = 8,
    model: str = "tiny-random",
    n_tasks: int = 3,
    replace: dict[str, str] | None = None,
) -> Path:
    """Write a small experiment config (tiny-random, 3 tasks x 8 examples by default)."""
    body = HEAD.format(model=model, n=n)
    for task_id, group, source in TASKS[:n_tasks]:
        body += f'[[tasks]]\nid = "{task_id}"\ngroup = "{group}"\nsource = {source}\n'
    body += TAIL.format(steps=steps)
    for old, new in (replace or {}).items():
        assert old in body, old
        body = body.replace(old, new)
    path = tmp_path / name
    path.write_text(body)
    return path


def _collect(path: Path, out: Path, **options):
    config, base = load_config(path)
    return collect(config, out, base_dir=base, threads=1, **options)


def _matrices(run: Path) -> dict[str, np.ndarray]:
    store = open_store(run)
    return {"forgetting": store.forgetting(), "after": store.after(), "before": store.before()}


def _assert_same(a: Path, b: Path) -> None:
    left, right = _matrices(a), _matrices(b)
    for name in left:
        assert np.array_equal(left[name], right[name], equal_nan=True), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted local run of the small config, shared by the comparisons."""
    folder = tmp_path_factory.mktemp("reference")
    config = _config(folder)
    run = folder / "run"
    document = _collect(config, run)
    return config, run, document


def test_collected_store_holds_the_run(reference):
    _, run, document = reference
    store = open_store(run)
    assert store.shape == (3, 8) and store.kind == "collected" and store.has_scores
    assert store.finished() == ["german", "money", "spanish"]
    assert store.metrics == ("nll",)
    assert store.config["model"]["id"] == "tiny-random"
    examples = store.examples()
    assert list(examples.columns[:4]) == ["source", "text", "kind", "n_tokens"]
    assert set(examples["kind"]) == {"text", "chat"}
    assert (examples["n_tokens"] > 0).all()
    assert store.groups() == {"language": ["german", "spanish"], "english-topic": ["money"]}
    assert list(store.tasks_table()["source"]) == [
        "chatterbot/german",
        "chatterbot/english/money",
        "chatterbot/spanish",
    ]
    summary = store.summary("money")
    assert set(summary) == {
        "first_loss",
        "last_loss",
        "loss_drop",
        "steps",
        "tokens",
        "train_seconds",
        "score_seconds",
    }
    assert summary["steps"] == 2 and summary["tokens"] > 0
    texts = store.load_json(TASK_TEXTS)
    assert list(texts) == ["german", "money", "spanish"] and len(texts["german"]) == 6
    # forgetting is exactly after - before, in the store's dtype
    before, after = store.before(), store.after()
    assert np.array_equal(store.forgetting(), (after.astype(np.float64) - before).astype("f4"))
    assert document["ran"] == ["german", "money", "spanish"] and document["skipped"] == 0


def test_fine_tuning_on_the_upstream_examples_gives_negative_forgetting(tmp_path):
    rows = [
        {"id": f"u{i}", "prompt": f"Q{i}: say {i}", "response": f"ok {i} {i}"} for i in range(6)
    ]
    (tmp_path / "up.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "other.jsonl").write_text(
        "".join(json.dumps({"id": f"o{i}", "text": "zq" * 20 + str(i)}) + "\n" for i in range(4))
    )
    path = tmp_path / "self.toml"
    path.write_text(
        '[model]\nid = "tiny-random"\n'
        '[upstream]\nn = 6\nsources = [{ kind = "jsonl", path = "up.jsonl" }]\n'
        '[[tasks]]\nid = "self"\nsource = { kind = "jsonl", path = "up.jsonl" }\n'
        '[[tasks]]\nid = "other"\nsource = { kind = "jsonl", path = "other.jsonl" }\n'
        "[training]\nlearning_rate = 1e-2\nsteps = 6\nbatch_size = 3\nmax_length = 48\n"
        "warmup_steps = 0\n[scoring]\nmax_length = 48\n"
    )
    _collect(path, tmp_path / "run")
    store = open_store(tmp_path / "run")
    learned = store.row("self")
    assert (learned < 0).all(), learned  # learning an example lowers its NLL: negative forgetting
    assert learned.mean() < store.row("other").mean()


def test_later_stages_find_relative_data_from_any_folder(cli, tmp_path, monkeypatch):
    """collect records the config's folder; gradient similarity re-plans the run from it."""
    folder = tmp_path / "config"
    folder.mkdir()
    rows = [{"id": f"u{i}", "prompt": f"Q{i}?", "response": f"A{i}."} for i in range(4)]
    (folder / "up.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = folder / "c.toml"
    config.write_text(
        '[model]\nid = "tiny-random"\n'
        '[upstream]\nn = 4\nsources = [{ kind = "jsonl", path = "up.jsonl" }]\n'
        '[[tasks]]\nid = "a"\nsource = { kind = "jsonl", path = "up.jsonl", n = 2 }\n'
        '[[tasks]]\nid = "b"\nsource = { kind = "jsonl", path = "up.jsonl", n = 3 }\n'
        "[training]\nsteps = 1\nbatch_size = 2\nmax_length = 32\nwarmup_steps = 0\n"
        "[scoring]\nmax_length = 32\n"
    )
    _collect(config, tmp_path / "run")
    store = open_store(tmp_path / "run")
    assert store.load_json("data_dir") == {"path": str(folder.resolve())}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # up.jsonl does not resolve from here
    result = cli("similarity", tmp_path / "run", "--kinds", "gradient")
    assert result.code == 0, result.err
    # the data moved away: a clear one-line error naming the base directory, exit 2
    (folder / "up.jsonl").rename(tmp_path / "up.jsonl")
    result = cli("similarity", tmp_path / "run", "--kinds", "gradient")
    assert result.code == 2 and result.err.count("\n") == 1


def test_two_runs_are_bit_identical(reference, tmp_path):
    config, run, _ = reference
    _collect(config, tmp_path / "again")
    _assert_same(run, tmp_path / "again")


def test_only_the_answer_is_scored(tmp_path):
    """Changing a chat example's prompt leaves its scored tokens, and their count, unchanged."""
    from forgetmap.data import read_jsonl
    from forgetmap.lm import encode_examples, load_model

    short = {"id": "a", "prompt": "hi", "response": "the answer is 42"}
    long = {
        "id": "a",
        "prompt": "a much longer question, with more words",
        "response": "the answer is 42",
    }
    tokenizer = load_model("tiny-random").tokenizer
    encoded = []
    for name, row in (("short", short), ("long", long)):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(row) + "\n")
        (example,) = encode_examples(
            tokenizer, read_jsonl(tmp_path / f"{name}.jsonl"), max_length=64
        )
        encoded.append(example)
    (a, b) = encoded
    assert a.n_scored == b.n_scored
    assert np.array_equal(a.input_ids[a.scored], b.input_ids[b.scored])
    assert len(b) > len(a)


def test_forgetting_rows_sign_and_exact_match():
    before = {"nll": np.array([1.0, 2.0]), "exact_match": np.array([1.0, 1.0, 0.0, np.nan])}
    after = {"nll": np.array([1.5, 1.0]), "exact_match": np.array([0.0, 1.0, 1.0, np.nan])}
    rows = forgetting_rows(before, {"nll": after["nll"]})
    assert np.array_equal(rows["nll"], [0.5, -1.0])
    rows = forgetting_rows(before, {"exact_match": after["exact_match"]})
    assert np.array_equal(rows["exact_match"], [1.0, 0.0, 0.0, np.nan], equal_nan=True)


def test_exact_match_is_stored_beside_nll(tmp_path):
    config = _config(
        tmp_path,
        n_tasks=1,
        replace={"[scoring]": '[scoring]\nmetrics = ["nll", "exact_match"]\nmax_new_tokens = 8'},
    )
    _collect(config, tmp_path / "run")
    store = open_store(tmp_path / "run")
    assert store.metrics == ("nll", "exact_match")
    chat = (store.examples()["kind"] == "chat").to_numpy()
    values, before = store.forgetting("exact_match")[0], store.before("exact_match")
    assert np.isnan(values[~chat]).all() and np.isnan(before[~chat]).all()
    assert set(np.unique(values[chat])) <= {0.0, 1.0}
    assert set(np.unique(before[chat])) <= {0.0, 1.0}


def test_rerun_skips_everything_and_other_config_is_refused(reference, tmp_path):
    config, run, _ = reference
    document = _collect(config, run)
    assert document["ran"] == [] and document["skipped"] == 3
    changed = _config(tmp_path, steps=3)
    config_, base = load_config(changed)
    refused = r"another config \(changed: training.steps\).*another run directory"
    with pytest.raises(Exception, match=refused):
        prepare_run(config_, run, base_dir=base)


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "forgetmap", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def _kill_when(command: list[str], ready, timeout: float = 120.0) -> bool:
    """Start ``command``, SIGKILL it as soon as ``ready()`` holds; False if it ended first."""
    process = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if ready():
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.02)
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_resume_after_sigkill_gives_the_same_matrix(tmp_path):
    config = _config(tmp_path, steps=6)
    reference = tmp_path / "reference"
    _collect(config, reference)
    run = tmp_path / "run"
    command = _python("collect", str(config), "--out", str(run), "--threads", "1")

    def finished() -> int:
        return len(list((run / "rows").glob("*.json"))) if run.exists() else 0

    # SIGKILL right after the before-scores are stored, then right after the first row
    assert _kill_when(command, lambda: (run / "before.json").exists())
    assert open_store(run).has_before() and len(open_store(run).finished()) < 3
    assert _kill_when(command, lambda: finished() >= 1)
    assert 1 <= len(open_store(run).finished()) < 3
    document = _collect(config, run)  # the same command once more, here in-process
    assert document["skipped"] >= 1
    assert open_store(run).finished() == ["german", "money", "spanish"]
    _assert_same(reference, run)


def test_ray_executor_gives_the_same_matrix(reference, tmp_path):
    pytest.importorskip("ray")
    config, run, _ = reference
    document = _collect(config, tmp_path / "ray", executor="ray")
    assert document["executor"] == "ray" and sorted(document["ran"]) == [
        "german",
        "money",
        "spanish",
    ]
    _assert_same(run, tmp_path / "ray")


# ---------------------------------------------------------------------- bad input
def _jsonl_task(tmp_path: Path, name: str, lines: list) -> dict[str, str]:
    """A ``replace`` that makes the first task read a JSONL file holding ``lines``."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (tmp_path / name).write_text(text)
    return {TASKS[0][2]: f'{{ kind = "jsonl", path = "{name}" }}'}


def _bad_inputs(tmp_path: Path) -> list[tuple[dict, str]]:
    return [
        ({"model": "no-such-org/no-such-model-xyz"}, "hub is unreachable"),
        ({"replace": {"[training]": "[training]\nlearning_rat = 1"}}, "learning_rat: unknown key"),
        ({"replace": {"steps = 2": "steps = 0"}}, "training.steps: must be > 0, got 0"),
        ({"n": 500}, "asks for 250 examples from it but it has"),
        ({"replace": _jsonl_task(tmp_path, "empty.jsonl", [""])}, "holds no examples"),
        (
            {"replace": _jsonl_task(tmp_path, "bad.jsonl", [{"id": "a", "text": "x"}, "{oops"])},
            "bad.jsonl:2: not valid JSON",
        ),
        (
            {"replace": _jsonl_task(tmp_path, "nofield.jsonl", [{"id": "a", "txt": "x"}])},
            "nofield.jsonl:1: example 'a' lacks a field",
        ),
        (
            {
                "replace": _jsonl_task(
                    tmp_path, "noanswer.jsonl", [{"id": "a", "prompt": "q", "response": ""}]
                )
            },
            "noanswer.jsonl:1: chat example 'a' has an empty response",
        ),
        (
            {
                "replace": _jsonl_task(
                    tmp_path, "dup.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]
                )
            },
            "dup.jsonl:2: duplicate id 'a' (first on line 1)",
        ),
    ]


def test_bad_input_is_one_line_and_exit_2_before_any_training(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for index, (options, message) in enumerate(_bad_inputs(tmp_path)):
        config = _config(tmp_path, f"bad{index}.toml", **options)
        out = tmp_path / f"out{index}"
        result = cli("collect", config, "--out", out)
        assert result.code == 2, (message, result.err)
        assert message in result.err, (message, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert not out.exists()  # nothing was created, so nothing was trained


def test_bad_executor_options(tmp_path, cli):
    config = _config(tmp_path)
    result = cli("collect", config, "--out", tmp_path / "x", "--ray-address", "auto")
    assert result.code == 2 and "--ray-address needs --executor ray" in result.err
    result = cli("collect", config, "--out", tmp_path / "x", "--executor", "spark")
    assert result.code == 2
    assert not (tmp_path / "x").exists()


def test_resume_under_another_config_says_how_to_start_anew(reference, tmp_path, cli):
    _, run, _ = reference
    other = _config(
        tmp_path, "other.toml", replace={"learning_rate = 5e-3": "learning_rate = 1e-3"}
    )
    result = cli("collect", other, "--out", run)
    assert result.code == 2
    assert "training.learning_rate" in result.err
    assert "give another run directory or delete" in result.err


def test_cli_collect_prints_a_summary_table(reference, cli):
    config, run, _ = reference
    result = cli("collect", config, "--out", run, "--threads", "1")
    assert result.code == 0, result.err
    assert "resuming, 3 of 3 rows done" in result.out
    assert "german" in result.out and "english-topic" in result.out
    result = cli("--format", "json", "collect", config, "--out", run, "--threads", "1")
    document = json.loads(result.out)
    assert document["shape"] == [3, 8] and document["skipped"] == 3


@pytest.mark.slow
def test_real_model_collects_a_2_by_16_matrix(tmp_path):
    config = _config(tmp_path, model="smollm2-135m-instruct", n=16, n_tasks=2)
    document = _collect(config, tmp_path / "run")
    store = open_store(tmp_path / "run")
    assert store.shape == (2, 16) and store.finished() == ["german", "money"]
    assert np.isfinite(store.forgetting()).all()
    # a trained model knows English and Python's docs far better than chance (ln 49152 = 10.8)
    assert document["before_mean_nll"] < 5
