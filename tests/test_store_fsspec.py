"""Stores behind fsspec URLs: the store API, resume, refusals, damage, claims and a real
`forgetmap collect` through `memory://` and `file://` URLs and a local S3 server (moto)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import forgetmap
from forgetmap.errors import (
    StoreConflictError,
    StoreDamagedError,
    StoreError,
    StoreNotFoundError,
)
from forgetmap.store import StorePath, _store, store_location
from forgetmap.store._claims import Claims, read_claim
from tiny_run import SMALL_CONFIG

fsspec = pytest.importorskip("fsspec")

SRC = Path(__file__).resolve().parents[1] / "src"
M, N = 4, 6
TASKS = [task["id"] for task in SMALL_CONFIG["tasks"]]


@pytest.fixture
def url():
    """A fresh ``memory://`` run directory, deleted afterwards (memory is per process)."""
    root = f"forgetmap-tests/{uuid.uuid4().hex}"
    yield f"memory://{root}/run"
    with contextlib.suppress(FileNotFoundError):
        fsspec.filesystem("memory").rm(f"/{root}", recursive=True)


def _memory(url: str) -> tuple[object, str]:
    """The memory filesystem and the path of ``url`` in it."""
    return fsspec.filesystem("memory"), "/" + url.removeprefix("memory://")


def _create(target) -> forgetmap.ForgettingStore:
    """The small scored store every test here makes (or reopens: same ids, same config)."""
    return forgetmap.create_store(
        target,
        [f"t{i}" for i in range(M)],
        [f"e{j}" for j in range(N)],
        task_table={"group": ["x", "x", "y", "y"]},
        example_table={"source": ["a"] * N, "text": [f"text {j}" for j in range(N)]},
        with_scores=True,
        config={"seed": 0},
    )


def _store_at(target, *, finished=(0, 1, 2)) -> forgetmap.ForgettingStore:
    """A collected-like store with scores: rows ``finished`` written, before-scores stored."""
    store = _create(target)
    before = np.arange(N, dtype=np.float32) / 4
    store.write_before({"nll": before})
    for i in finished:
        after = before + np.float32(i + 1)
        store.write_row(i, after - before, after={"nll": after}, summary={"last_loss": 1.0 + i})
    return store


def _one_line_exit_2(result) -> None:
    assert result.code == 2, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("forgetmap: error:"), result.err
    assert "Traceback" not in result.err


def _said(result) -> str:
    return " ".join(result.err.split())  # rich wraps long lines on a narrow stderr


# ---------------------------------------------------------------------- the store API
def test_the_store_api_round_trips_through_a_memory_url(url, tmp_path):
    local = _store_at(tmp_path / "run")
    remote = _store_at(url)
    store = forgetmap.open_store(url)
    assert store.url == url and str(store.path) == url
    assert repr(store).startswith(f"ForgettingStore({url!r}")
    assert store.shape == (M, N) and store.finished() == ["t0", "t1", "t2"]
    assert store.missing() == ["t3"] and store.is_finished("t1") and not store.is_finished("t3")
    for read in ("forgetting", "after"):
        assert_array_equal(getattr(store, read)(), getattr(local, read)())
    assert_array_equal(store.before(), local.before())
    assert_array_equal(store.row("t2"), local.row("t2"))
    assert store.summary("t1") == {"last_loss": 2.0} and store.summary("t3") is None
    assert store.tasks().equals(local.tasks())
    assert store.examples().equals(local.examples())
    assert store.groups() == {"x": ["t0", "t1"], "y": ["t2", "t3"]}
    assert store.verify() == [] and store.damaged_rows() == {} and store.before_damage() is None
    assert remote.manifest["checksums"] == local.manifest["checksums"]  # the same table bytes
    saved = store.save_json("analysis", {"r2": float("nan")})
    assert str(saved) == f"{url}/artifacts/analysis.json"
    assert store.load_json("analysis") == {"r2": None} and store.load_json("absent") is None
    store.save_array("similarity_tfidf", np.eye(3))
    assert_array_equal(store.load_array("similarity_tfidf"), np.eye(3))
    assert store.load_array("absent") is None
    store.unmark_row("t0")
    assert store.finished() == ["t1", "t2"]


def test_a_remote_store_path_joins_and_prints_as_its_url_but_is_no_local_path(url):
    store = _store_at(url)
    store.save_array("similarity_tfidf", np.eye(M, N))
    artifacts = store.path / "artifacts"
    assert isinstance(artifacts, StorePath) and str(artifacts) == f"{url}/artifacts"
    assert artifacts.is_dir() and not (store.path / "nothing").exists()
    assert [path.name for path in artifacts.glob("similarity_*.npy")] == ["similarity_tfidf.npy"]
    assert (artifacts / "similarity_tfidf.npy").parent == artifacts
    assert str(store.artifact_path("evaluate.json")) == f"{url}/artifacts/evaluate.json"
    with pytest.raises(TypeError):
        os.fspath(store.path)  # never opened as a local file by mistake


def test_a_local_path_and_a_file_url_keep_posix_stores(tmp_path):
    store = _store_at(f"file://{tmp_path / 'run'}")
    assert store.path == tmp_path / "run" and store.location.local_path == tmp_path / "run"
    assert (tmp_path / "run" / "rows").is_dir()  # the staged, renamed-into-place layout
    assert_array_equal(forgetmap.open_store(tmp_path / "run").forgetting(), store.forgetting())


def test_reopening_resumes_and_another_config_is_refused(url):
    _store_at(url, finished=(0,))
    again = _create(url)
    assert again.finished() == ["t0"] and again.has_before()  # resumed, nothing lost
    with pytest.raises(StoreConflictError, match="already holds a different store"):
        forgetmap.create_store(
            url, [f"t{i}" for i in range(M)], [f"e{j}" for j in range(N)], config={"seed": 1}
        )


def test_an_interrupted_creation_holds_no_store_and_the_next_create_finishes_it(url, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_store, "_fill_rows", killed)  # dies after the tables and arrays
    with pytest.raises(KeyboardInterrupt):
        forgetmap.create_store(url, ["a", "b"], ["x", "y"], forgetting=np.ones((2, 2)))
    fs, root = _memory(url)
    assert fs.exists(f"{root}/tasks.parquet") and not fs.exists(f"{root}/forgetmap.json")
    fs.pipe_file(f"{root}/rows/000000.json", b"{}")  # a marker left by the interrupted one
    with pytest.raises(StoreNotFoundError, match="holds no forgetmap store"):
        forgetmap.open_store(url)
    monkeypatch.undo()
    store = forgetmap.create_store(url, ["a", "b"], ["x", "y"])
    assert store.finished() == [] and np.isnan(store.forgetting()).all()
    other = url.replace("/run", "/other")
    fs.pipe_file(f"{root.replace('/run', '/other')}/notes.txt", b"mine")
    with pytest.raises(StoreConflictError, match="non-empty directory without a forgetmap"):
        forgetmap.create_store(other, ["a"], ["x"])


def test_an_imported_matrix_is_written_whole_before_the_manifest(url):
    matrix = np.arange(6.0).reshape(2, 3)
    forgetmap.create_store(url, ["a", "b"], ["x", "y", "z"], kind="imported", forgetting=matrix)
    store = forgetmap.open_store(url)
    assert store.finished() == ["a", "b"] and store.verify() == []
    assert_array_equal(store.forgetting(), matrix)


# ---------------------------------------------------------------------- damage
def test_damaged_files_are_detected_in_an_object_store(url):
    _store_at(url)
    fs, root = _memory(url)
    chunk = f"{root}/matrix.zarr/forgetting/nll/c/1/0"
    fs.pipe_file(chunk, fs.cat_file(chunk)[::-1])
    fs.rm_file(f"{root}/matrix.zarr/after/nll/c/2/0")
    store = forgetmap.open_store(url)
    with pytest.raises(StoreDamagedError) as error:
        store.forgetting()
    assert str(error.value).startswith(
        f"store file '{url}/matrix.zarr/forgetting/nll/c/1/0' (data of row 't1') differs from "
        "its recorded checksum"
    )
    damaged = store.damaged_rows()
    assert sorted(damaged) == [1, 2] and "is missing" in damaged[2]
    assert len(store.verify()) == 2
    fs.pipe_file(f"{root}/rows/000000.json", b"{")
    with pytest.raises(StoreDamagedError, match=r"rows/000000\.json' \(the done-marker"):
        forgetmap.open_store(url).summary("t0")
    fs.pipe_file(f"{root}/tasks.parquet", b"garbled")
    with pytest.raises(StoreDamagedError, match=r"tasks\.parquet' differs from its recorded"):
        forgetmap.open_store(url).tasks()
    fs.pipe_file(f"{root}/forgetmap.json", b"{")
    with pytest.raises(StoreDamagedError, match=r"forgetmap\.json' is not valid JSON"):
        forgetmap.open_store(url)


def test_info_check_lists_damage_of_a_url_store_and_exits_2(url, cli):
    _store_at(url)
    assert cli("info", url, "--check").code == 0
    fs, root = _memory(url)
    fs.rm_file(f"{root}/matrix.zarr/forgetting/nll/c/0/0")
    result = cli("info", url, "--check")
    _one_line_exit_2(result)
    assert f"damaged: store file '{url}/matrix.zarr/forgetting/nll/c/0/0'" in result.out


# ---------------------------------------------------------------------- claims
def test_claims_in_an_object_store(url):
    store = _store_at(url, finished=())
    path = store.path / "rows" / "000001.claim"
    with Claims() as mine, Claims() as other:
        assert mine.acquire(path) and mine.acquire(path)
        assert not other.acquire(path)  # live: this host, our pid, fresh
        assert other.holder(path)["pid"] == os.getpid()
        mine.release(path)
        assert not path.exists()
        assert other.acquire(path)
    assert not path.exists()  # released on exit
    stale = {"pid": 1, "host": "elsewhere.example", "time": "x", "token": "theirs"}
    store.location.write_bytes("rows/000002.claim", json.dumps(stale).encode())
    claim = store.path / "rows" / "000002.claim"
    with Claims(timeout=60) as claims:
        assert not claims.acquire(claim)  # another host's claim, untouched time: by age only
        old = {**stale, "touched": time.time() - 120}
        store.location.write_bytes("rows/000002.claim", json.dumps(old).encode())
        assert claims.acquire(claim)
        assert read_claim(claim)[0]["host"] == socket.gethostname()


def test_held_claims_in_an_object_store_are_kept_fresh(url):
    store = _store_at(url, finished=())
    path = store.path / "before.claim"
    with Claims(timeout=2) as claims:  # refreshed every 0.5 s
        assert claims.acquire(path)
        holder = read_claim(path)[0]
        store.location.write_bytes(
            "before.claim", json.dumps({**holder, "touched": time.time() - 100}).encode()
        )
        deadline = time.monotonic() + 5
        while read_claim(path)[2] < time.time() - 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert read_claim(path)[2] > time.time() - 50


# ---------------------------------------------------------------------- bad URLs
def test_bad_urls_are_one_line_and_exit_2(cli, tmp_path, monkeypatch):
    config = _config_file(tmp_path)
    result = cli("info", "foo://bucket/run")
    _one_line_exit_2(result)
    assert "unknown storage protocol 'foo://'" in _said(result)
    result = cli("collect", config, "--out", "foo://bucket/run")
    _one_line_exit_2(result)
    result = cli("info", "memory://")
    _one_line_exit_2(result)
    assert "names no folder" in result.err
    # s3:// without s3fs: the message names the package to install
    monkeypatch.setitem(sys.modules, "s3fs", None)
    registry = sys.modules["fsspec.registry"]._registry  # the classes imported so far
    monkeypatch.delitem(registry, "s3", raising=False)
    for args in (("info", "s3://bucket/run"), ("collect", config, "--out", "s3://bucket/run")):
        result = cli(*args)
        _one_line_exit_2(result)
        assert "the s3:// protocol needs the package 's3fs': pip install s3fs" in _said(result)
    with pytest.raises(StoreError, match="pip install s3fs"):
        store_location("s3://bucket/run")


def test_ray_refuses_a_memory_url_in_one_line(cli, tmp_path, url):
    result = cli("collect", _config_file(tmp_path), "--out", url, "--executor", "ray")
    _one_line_exit_2(result)
    assert "lives in this process only; the ray executor needs" in _said(result)
    assert not _memory(url)[0].exists(_memory(url)[1])  # nothing written


# ---------------------------------------------------------------------- real collects
def _toml(value) -> str:
    """An inline TOML value (enough for the tests' config)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _config_file(folder: Path, **changes) -> Path:
    """:data:`tiny_run.SMALL_CONFIG` (with ``changes`` of its training section) as TOML."""
    config = {**SMALL_CONFIG, "training": {**SMALL_CONFIG["training"], **changes}}
    path = folder / "small.toml"
    path.write_text("".join(f"{key} = {_toml(value)}\n" for key, value in config.items()))
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small config collected into a plain local path, through the CLI."""
    from forgetmap.cli._app import main

    folder = tmp_path_factory.mktemp("fsspec-reference")
    config = _config_file(folder)
    run = folder / "run"
    assert main(["collect", str(config), "--out", str(run), "--threads", "1"]) == 0
    return config, run


def _assert_same(a, b) -> None:
    first, second = forgetmap.open_store(a), forgetmap.open_store(b)
    assert first.finished() == second.finished() == TASKS
    for read in ("forgetting", "after"):
        assert_array_equal(getattr(first, read)(), getattr(second, read)())
    assert_array_equal(first.before(), second.before())
    assert first.tasks_table().equals(second.tasks_table())
    assert first.examples().equals(second.examples())
    assert first.load_json("task_texts") == second.load_json("task_texts")


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_collect_through_a_url_equals_a_local_collect(reference, cli, tmp_path, url, kind):
    config, local = reference
    run = url if kind == "memory" else f"file://{tmp_path / 'run'}"
    result = cli("--format", "json", "collect", config, "--out", run, "--threads", "1")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert sorted(document["ran"]) == sorted(TASKS)
    assert document["path"] == (run if kind == "memory" else str(tmp_path / "run"))
    _assert_same(local, run)
    again = cli("--format", "json", "collect", config, "--out", run, "--threads", "1")
    assert again.code == 0 and json.loads(again.out)["skipped"] == len(TASKS)
    other = cli("collect", _config_file(tmp_path, steps=3), "--out", run, "--threads", "1")
    _one_line_exit_2(other)
    assert "holds a run of another config (changed: training.steps)" in _said(other)


def test_later_stages_read_a_url_store(reference, cli, url, tmp_path):
    config, _ = reference
    assert cli("collect", config, "--out", url, "--threads", "1").code == 0
    info = cli("--format", "json", "info", url, "--check")
    assert info.code == 0, info.err
    assert json.loads(info.out)["path"] == url and json.loads(info.out)["check"]["ok"]
    analyzed = cli("--format", "json", "analyze", url, "--rank", "1", "--clusters", "2")
    assert analyzed.code == 0, analyzed.err
    assert f"saved{url}/artifacts/analysis.json" in "".join(analyzed.err.split())  # rich wraps
    assert forgetmap.open_store(url).load_json("analysis") == json.loads(analyzed.out)
    evaluated = cli(
        "--format", "json", "evaluate", url, "--k", "3", "--seeds", "1", "--methods", "mean"
    )
    assert evaluated.code == 0, evaluated.err
    assert "mean" in forgetmap.open_store(url).load_json("evaluate")["methods"]
    exported = cli("export", url, "--out", tmp_path / "matrix.csv")
    assert exported.code == 0, exported.err


def test_import_and_export_through_a_url(cli, tmp_path, url):
    matrix = tmp_path / "m.csv"
    matrix.write_text("task,x,y\na,0.5,nan\nb,1.25,-2.0\n")
    result = cli("import", matrix, "--out", url)
    assert result.code == 0, result.err
    assert cli("import", matrix, "--out", url).code == 0  # the same matrix again: nothing to do
    store = forgetmap.open_store(url)
    assert store.kind == "imported" and store.finished() == ["a", "b"]
    assert cli("export", url, "--out", tmp_path / "back.csv").code == 0
    assert (tmp_path / "back.csv").read_text() == matrix.read_text()


def test_collect_reruns_only_the_damaged_rows_of_a_url_store(reference, cli, url):
    config, local = reference
    assert cli("collect", config, "--out", url, "--threads", "1").code == 0
    fs, root = _memory(url)
    fs.rm_file(f"{root}/matrix.zarr/forgetting/nll/c/1/0")
    result = cli("--format", "json", "collect", config, "--out", url, "--threads", "1")
    assert result.code == 0, result.err
    assert f"row '{TASKS[1]}' was damaged ('matrix.zarr/forgetting/nll/c/1/0' (data of" in (
        _said(result)
    )
    assert json.loads(result.out)["ran"] == [TASKS[1]]
    _assert_same(local, url)


# ---------------------------------------------------------------------- a local S3 server
@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on a free local port with a bucket ``forgetmap``; yields its endpoint."""
    pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": endpoint,  # read by fsspec when it is imported
    }
    saved = {key: os.environ.get(key) for key in env}
    saved_conf = fsspec.config.conf.get("s3")
    os.environ.update(env)
    fsspec.config.conf["s3"] = {"endpoint_url": endpoint}  # fsspec is imported already here
    try:
        fsspec.filesystem("s3").mkdir("forgetmap")
        yield env
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if saved_conf is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = saved_conf


def test_claims_on_s3_use_its_conditional_write(s3):
    location = store_location(f"s3://forgetmap/{uuid.uuid4().hex}")
    assert location.create_exclusive("rows/000001.claim", b"one")
    with pytest.raises(FileExistsError):  # If-None-Match: the server refuses a second create
        location.fs.pipe_file(f"{location.root}/rows/000001.claim", b"two", mode="create")
    assert not location.create_exclusive("rows/000001.claim", b"two")
    assert location.read_bytes("rows/000001.claim") == b"one"


def test_collect_and_info_against_s3(s3, reference, cli):
    config, local = reference
    run = f"s3://forgetmap/{uuid.uuid4().hex}/run"
    env = {**os.environ, **s3, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "forgetmap", "--format", "json", "collect", str(config)]
    done = subprocess.run(  # a fresh process: the endpoint comes from FSSPEC_S3_ENDPOINT_URL
        [*command, "--out", run, "--threads", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(json.loads(done.stdout)["ran"]) == sorted(TASKS)
    _assert_same(local, run)
    info = cli("--format", "json", "info", run, "--check")
    assert info.code == 0, info.err
    assert json.loads(info.out)["finished"] == len(TASKS)
    again = cli("--format", "json", "collect", config, "--out", run, "--threads", "1")
    assert again.code == 0 and json.loads(again.out)["skipped"] == len(TASKS)


@pytest.mark.slow  # starts a local Ray instance: about a minute
def test_the_ray_executor_writes_an_s3_store(s3, reference, tmp_path):
    pytest.importorskip("ray")
    from forgetmap.collect import collect
    from forgetmap.config import load_config

    config, local = reference
    run = f"s3://forgetmap/{uuid.uuid4().hex}/run"
    experiment, base = load_config(config)
    # Ray workers start from this process's environment: FSSPEC_S3_ENDPOINT_URL reaches them.
    document = collect(experiment, run, base_dir=base, executor="ray", threads=1)
    assert sorted(document["ran"]) == sorted(TASKS)
    _assert_same(local, run)


@pytest.mark.slow  # two fresh processes that each load the model: about a minute and a half
def test_two_writers_split_the_rows_of_an_s3_store(s3, tmp_path, cli):
    from forgetmap.collect import prepare_run
    from forgetmap.config import load_config

    config = _config_file(tmp_path, steps=30)  # rows long enough for both to take some
    run = f"s3://forgetmap/{uuid.uuid4().hex}/run"
    experiment, base = load_config(config)
    prepare_run(experiment, run, base_dir=base, threads=1)  # the store, nothing computed
    env = {**os.environ, **s3, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "forgetmap", "--format", "json", "collect", str(config)]
    logs = [tmp_path / "a.err", tmp_path / "b.err"]
    gate_path = forgetmap.open_store(run).path / "before.claim"
    with Claims() as gate:
        # Hold the before-scores' claim until both wait for it, so both reach the rows together.
        assert gate.acquire(gate_path)
        handles = [log.open("w") for log in logs]
        processes = [
            subprocess.Popen(
                [*command, "--out", run, "--threads", "1"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=handle,
                text=True,
            )
            for handle in handles
        ]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not all(
            "waiting for them" in log.read_text() for log in logs
        ):
            assert all(process.poll() is None for process in processes), logs[0].read_text()
            time.sleep(0.1)
        gate.release(gate_path)
        outputs = [process.communicate(timeout=400)[0] for process in processes]
        for handle in handles:
            handle.close()
    for process, log in zip(processes, logs, strict=True):
        assert process.returncode == 0, log.read_text()[-3000:]
    ran = [set(json.loads(out)["ran"]) for out in outputs]
    assert not ran[0] & ran[1], ran  # no row computed twice
    assert ran[0] | ran[1] == set(TASKS)
    assert all(ran), f"one process computed every row: {ran}"
    store = forgetmap.open_store(run)
    assert store.finished() == TASKS and store.verify() == []
    assert not [name for name in store.location.listdir("rows") if name.endswith(".claim")]
    local = tmp_path / "local"
    assert cli("collect", config, "--out", local, "--threads", "1").code == 0
    _assert_same(local, run)


def test_storage_that_cannot_be_reached_is_one_line_exit_2(tmp_path):
    """No credentials and no server: the backend's error deep in botocore becomes one line.

    A fresh process, so that no S3 filesystem cached by another test (with a server's
    endpoint and keys) is reused.
    """
    pytest.importorskip("s3fs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        FSSPEC_S3_ENDPOINT_URL="http://127.0.0.1:9",  # the discard port: nothing listens
    )
    result = subprocess.run(
        [sys.executable, "-m", "forgetmap", "info", "s3://no-such-bucket/run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "could not be used" in result.stderr and "credentials" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
