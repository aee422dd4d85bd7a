"""Several writers of one run directory: row claims, damaged rows re-run, bad --out paths, and
real `forgetmap collect` processes sharing (or taking over) one run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from forgetmap.collect import _run
from forgetmap.config import load_config
from forgetmap.store import open_store
from forgetmap.store._claims import Claims, claim_is_stale, pid_alive, read_claim

SRC = Path(__file__).resolve().parents[1] / "src"
TASKS = ["german", "spanish", "italian", "portuguese", "money", "sports"]
CONFIG = """
seed = 0
[model]
id = "tiny-random"
[upstream]
n = 8
sources = [
  { kind = "pydoc", topics = ["if", "while", "for", "try"], chunk_chars = 80 },
  { kind = "chatterbot", language = "english", categories = ["greetings", "history"] },
]
[training]
learning_rate = 5e-3
steps = STEPS
batch_size = 2
max_length = 32
warmup_steps = 0
[scoring]
max_length = 32
batch_size = 8
"""
SOURCES = {
    "german": '{ kind = "chatterbot", language = "german", n = 6 }',
    "spanish": '{ kind = "chatterbot", language = "spanish", n = 6 }',
    "italian": '{ kind = "chatterbot", language = "italian", n = 6 }',
    "portuguese": '{ kind = "chatterbot", language = "portuguese", n = 6 }',
    "money": '{ kind = "chatterbot", language = "english", categories = ["money"], n = 6 }',
    "sports": '{ kind = "chatterbot", language = "english", categories = ["sports"], n = 6 }',
}


def _config(folder: Path, steps: int = 30) -> Path:
    body = CONFIG.replace("STEPS", str(steps))
    for task in TASKS:
        body += f'[[tasks]]\nid = "{task}"\ngroup = "g"\nsource = {SOURCES[task]}\n'
    path = folder / "exp.toml"
    path.write_text(body)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted in-process run of the config: (config path, run directory)."""
    folder = tmp_path_factory.mktemp("writers")
    config = _config(folder)
    run = folder / "reference"
    experiment, base = load_config(config)
    _run.collect(experiment, run, base_dir=base, threads=1)
    return config, run


def _matrices(run: Path) -> dict[str, np.ndarray]:
    store = open_store(run)
    return {"forgetting": store.forgetting(), "after": store.after(), "before": store.before()}


def _assert_same(a: Path, b: Path) -> None:
    left, right = _matrices(a), _matrices(b)
    for name in left:
        assert np.array_equal(left[name], right[name], equal_nan=True), name


def _one_line_exit_2(result) -> None:
    assert result.code == 2, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("forgetmap: error:"), result.err


# ---------------------------------------------------------------------- claims
def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_claim(path: Path, *, pid: int, host: str, age: float = 0.0) -> None:
    path.write_text(json.dumps({"pid": pid, "host": host, "time": "x", "token": "theirs"}))
    if age:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))


def test_a_live_claim_is_skipped_and_released_claims_can_be_taken(tmp_path):
    path = tmp_path / "000001.claim"
    with Claims() as mine, Claims() as other:
        assert mine.acquire(path)
        assert mine.acquire(path)  # already ours
        assert not other.acquire(path)  # live: same host, our (alive) pid, fresh
        holder = other.holder(path)
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        mine.release(path)
        assert not path.exists()
        assert other.acquire(path)
    assert not path.exists()  # released on exit


def test_a_claim_of_a_dead_pid_on_this_host_is_stale(tmp_path):
    path = tmp_path / "000002.claim"
    pid = _dead_pid()
    assert not pid_alive(pid) and pid_alive(os.getpid())
    _write_claim(path, pid=pid, host=socket.gethostname())
    with Claims() as claims:
        assert claims.acquire(path)
        assert read_claim(path)[0]["pid"] == os.getpid()


def test_a_claim_from_another_host_is_stale_only_by_age(tmp_path):
    path = tmp_path / "000003.claim"
    _write_claim(path, pid=_dead_pid(), host="elsewhere.example")  # pid says nothing there
    with Claims(timeout=60) as claims:
        assert not claims.acquire(path)
        _write_claim(path, pid=1, host="elsewhere.example", age=120)
        assert claims.acquire(path)
        assert read_claim(path)[0]["host"] == socket.gethostname()


def test_claim_staleness_rules():
    host, now = "here", 1000.0
    alive = {"pid": os.getpid(), "host": host}
    assert not claim_is_stale(alive, now - 5, timeout=60, now=now, host=host)
    assert claim_is_stale(alive, now - 61, timeout=60, now=now, host=host)
    dead = {"pid": _dead_pid(), "host": host}
    assert claim_is_stale(dead, now, timeout=60, now=now, host=host)
    assert not claim_is_stale({**dead, "host": "there"}, now, timeout=60, now=now, host=host)
    assert not claim_is_stale(None, now - 5, timeout=60, now=now, host=host)  # being written
    assert claim_is_stale(None, now - 61, timeout=60, now=now, host=host)


def test_a_garbled_claim_expires_by_age(tmp_path):
    path = tmp_path / "000004.claim"
    path.write_text("{not json")
    with Claims(timeout=60) as claims:
        assert not claims.acquire(path)
        stamp = time.time() - 120
        os.utime(path, (stamp, stamp))
        assert claims.acquire(path)


def test_release_leaves_a_claim_taken_over_by_another(tmp_path):
    path = tmp_path / "000005.claim"
    with Claims() as mine:
        assert mine.acquire(path)
        _write_claim(path, pid=os.getpid(), host=socket.gethostname())  # someone broke ours
        mine.release(path)
        assert read_claim(path)[0]["token"] == "theirs"


def test_held_claims_are_kept_fresh(tmp_path):
    path = tmp_path / "000006.claim"
    with Claims(timeout=2) as claims:  # refreshed every 0.5 s
        assert claims.acquire(path)
        stamp = time.time() - 100
        os.utime(path, (stamp, stamp))
        deadline = time.monotonic() + 5
        while os.stat(path).st_mtime < time.time() - 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.stat(path).st_mtime > time.time() - 50


# ---------------------------------------------------------------------- --out and damage
def test_out_that_is_a_file_or_unwritable_is_refused_before_any_model_loads(
    reference, tmp_path, cli, monkeypatch
):
    config, _ = reference

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(_run, "_tokenizer", no_model)
    file = tmp_path / "file.txt"
    file.write_text("x")
    result = cli("collect", config, "--out", file)
    _one_line_exit_2(result)
    assert "is a file, not a run directory" in result.err
    result = cli("collect", config, "--out", file / "run")
    _one_line_exit_2(result)
    assert "is a file, not a folder" in result.err
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access

    def access(path, mode):  # root may write anywhere: pretend `locked` is read-only
        if Path(path) == locked and mode & os.W_OK:
            return False
        return real_access(path, mode)

    monkeypatch.setattr(_run.os, "access", access)
    for out in (locked, locked / "run"):
        result = cli("collect", config, "--out", out)
        _one_line_exit_2(result)
        assert "is not writable" in result.err


def test_collect_reruns_only_the_damaged_rows(reference, tmp_path, cli):
    config, ref = reference
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    index = {task: i for i, task in enumerate(TASKS)}
    (run / "matrix.zarr" / "forgetting" / "nll" / "c" / str(index["money"]) / "0").unlink()
    chunk = run / "matrix.zarr" / "after" / "nll" / "c" / str(index["spanish"]) / "0"
    chunk.write_bytes(chunk.read_bytes()[::-1])
    (run / "rows" / f"{index['italian']:06d}.json").write_text("{")
    _one_line_exit_2(cli("info", run))
    result = cli("--format", "json", "collect", config, "--out", run, "--threads", "1")
    assert result.code == 0, result.err
    said = " ".join(result.err.split())  # rich wraps long lines on a narrow stderr
    assert "row 'spanish' was damaged ('matrix.zarr/after/nll/c/1/0' (data of row" in said
    assert "row 'italian' was damaged ('rows/000002.json' (the done-marker" in said
    assert "row 'money' was damaged ('matrix.zarr/forgetting/nll/c/4/0' (data of row" in said
    assert said.count("; re-running it") == 3
    document = json.loads(result.out)
    assert sorted(document["ran"]) == ["italian", "money", "spanish"]
    assert document["skipped"] == 3
    assert open_store(run).verify() == []
    _assert_same(ref, run)


def test_collect_recomputes_damaged_before_scores(reference, tmp_path, cli):
    config, ref = reference
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    chunk = run / "matrix.zarr" / "before" / "nll" / "c" / "0"
    chunk.write_bytes(bytes(len(chunk.read_bytes())))
    result = cli("--format", "json", "collect", config, "--out", run, "--threads", "1")
    assert result.code == 0, result.err
    assert "the before-scores were damaged" in " ".join(result.err.split())
    assert json.loads(result.out)["ran"] == []
    _assert_same(ref, run)


# ---------------------------------------------------------------------- real processes
def _start(config: Path, run: Path, stderr=subprocess.PIPE) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "forgetmap", "--format", "json", "collect", str(config)]
    return subprocess.Popen(
        [*command, "--out", str(run), "--threads", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def test_two_processes_split_the_rows_and_give_the_same_matrix(reference, tmp_path):
    config, ref = reference
    run = tmp_path / "run"
    experiment, base = load_config(config)
    _run.prepare_run(experiment, run, base_dir=base, threads=1)  # the store, nothing computed
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    with Claims() as gate:
        # Hold the before-scores' claim until both processes wait for it, so that both reach
        # the rows together (their start-up times differ by more than the rows take).
        assert gate.acquire(run / _run.BEFORE_CLAIM)
        handles = [log.open("w") for log in logs]
        processes = [_start(config, run, stderr=handle) for handle in handles]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
            "waiting for them" in log.read_text() for log in logs
        ):
            assert all(process.poll() is None for process in processes), logs[0].read_text()
            time.sleep(0.05)
        gate.release(run / _run.BEFORE_CLAIM)
        outputs = [process.communicate(timeout=240)[0] for process in processes]
        for handle in handles:
            handle.close()
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log.read_text()
    documents = [json.loads(out) for out in outputs]
    ran = [set(document["ran"]) for document in documents]
    assert not ran[0] & ran[1], ran  # no row computed twice
    assert ran[0] | ran[1] == set(TASKS)
    assert all(ran), f"one process computed every row: {ran}"
    assert open_store(run).finished() == TASKS
    assert not list(run.rglob("*.claim"))
    _assert_same(ref, run)


def test_a_sigkilled_writer_is_taken_over_by_the_other(reference, tmp_path):
    config, ref = reference
    run = tmp_path / "run"
    experiment, base = load_config(config)
    _run.prepare_run(experiment, run, base_dir=base, threads=1)
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    handles = [log.open("w") for log in logs]
    processes = [_start(config, run, stderr=handle) for handle in handles]
    victim = None
    try:
        with Claims() as gate:  # as above: both reach the rows together
            assert gate.acquire(run / _run.BEFORE_CLAIM)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not all(
                "waiting for them" in log.read_text() for log in logs
            ):
                assert all(process.poll() is None for process in processes), logs[0].read_text()
                time.sleep(0.05)
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            for claim in (run / "rows").glob("*.claim"):  # the first to hold a row dies
                found = read_claim(claim)
                pid = (found[0] or {}).get("pid") if found else None
                victim = next((p for p in processes if p.pid == pid), None)
                if victim is not None:
                    break
            time.sleep(0.005)
        assert victim is not None, "no process claimed a row"
        victim.send_signal(signal.SIGKILL)  # it dies holding a row's claim
        victim.communicate()
        (survivor,) = [process for process in processes if process is not victim]
        out, _ = survivor.communicate(timeout=240)
        assert survivor.returncode == 0, logs[processes.index(survivor)].read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        for handle in handles:
            handle.close()
    assert open_store(run).finished() == TASKS
    assert not list(run.rglob("*.claim"))
    assert len(json.loads(out)["ran"]) >= 1  # at least the row the victim died on
    _assert_same(ref, run)
