"""Tasks given as checkpoints: `checkpoint =` in a config and `collect --checkpoints DIR`.

Two tasks of examples/tiny.toml are fine-tuned with `forgetmap finetune` and collected back as
checkpoints; their rows must be bit for bit the rows collect computes by training them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from forgetmap.cli._app import main
from forgetmap.collect import checkpoint_tasks, collect, prepare_finetune
from forgetmap.config import load_config, parse_config
from forgetmap.errors import ConfigError, StoreConflictError
from forgetmap.lm import checkpoint_digest
from forgetmap.store import open_store

TINY = Path(__file__).resolve().parents[1] / "examples" / "tiny.toml"
GIVEN = ("money", "spanish")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """`forgetmap finetune` of two tiny.toml tasks into ck/, and tiny.toml collected by training."""
    folder = tmp_path_factory.mktemp("checkpoints")
    for task in GIVEN:
        args = ["finetune", str(TINY), "--task", task, "--out", str(folder / "ck" / task)]
        assert main([*args, "--threads", "1"]) == 0
    config, base = load_config(TINY)
    collect(config, folder / "trained", base_dir=base, threads=1)
    return folder


def _with_checkpoints(folder: Path, name: str = "given.toml", extra: str = "") -> Path:
    """tiny.toml with the GIVEN tasks naming their checkpoints (relative to the config)."""
    text = TINY.read_text()
    for task in GIVEN:
        line = f'id = "{task}"\n'
        assert line in text
        text = text.replace(line, f'{line}checkpoint = "ck/{task}"\n{extra}')
    path = folder / name
    path.write_text(text)
    return path


def _assert_rows_equal(run: Path, reference: Path) -> None:
    store, trained = open_store(run), open_store(reference)
    assert np.array_equal(store.before(), trained.before())
    for task in store.task_ids:
        i, j = store.task_ids.index(task), trained.task_ids.index(task)
        assert np.array_equal(store.forgetting()[i], trained.forgetting()[j]), task
        assert np.array_equal(store.after()[i], trained.after()[j]), task


def test_checkpoint_tasks_in_a_config_give_the_trained_rows(made):
    config, base = load_config(_with_checkpoints(made))
    run = made / "mixed"
    document = collect(config, run, base_dir=base, threads=1)
    store = open_store(run)
    assert store.task_ids == open_store(made / "trained").task_ids  # 6 trained, 2 given
    _assert_rows_equal(run, made / "trained")
    index = store.task_ids.index("money")
    assert store.summary(index)["checkpoint_kind"] == "lora"
    assert "first_loss" in store.summary(store.task_ids.index("german"))  # trained here
    kinds = {task["id"]: task["checkpoint_kind"] for task in document["tasks"]}
    assert kinds["money"] == "lora" and kinds["german"] is None
    # the stored config pins each checkpoint's files; the texts of given tasks are kept
    stored = {task["id"]: task for task in store.config["tasks"]}
    assert stored["spanish"]["checkpoint_sha256"] == checkpoint_digest(made / "ck" / "spanish")
    assert "checkpoint" not in stored["german"]
    assert store.load_json("task_texts") == open_store(made / "trained").load_json("task_texts")
    assert store.tasks_table()["checkpoint"].tolist()[index] == str(made / "ck" / "money")


def test_checkpoints_folder_gives_the_trained_rows(made, cli):
    (made / "ck" / "notes").mkdir(exist_ok=True)  # a subfolder without a checkpoint: passed over
    run = made / "folder"
    args = ("collect", TINY, "--out", run, "--checkpoints", made / "ck", "--threads", 1)
    result = cli(*args)
    assert result.code == 0, result.err
    assert "every task a checkpoint" in result.out
    store = open_store(run)
    assert store.task_ids == ("money", "spanish")
    assert store.tasks_table()["group"].tolist() == ["english-topic", "language"]  # lent
    _assert_rows_equal(run, made / "trained")
    again = cli(*args)  # resumes: nothing to do
    assert again.code == 0 and "0 run now, 2 already done" in again.out


def test_a_changed_checkpoint_is_a_changed_config(made):
    copy = made / "ck-copy"
    shutil.copytree(made / "ck", copy, dirs_exist_ok=True)
    config = checkpoint_tasks(load_config(TINY)[0], copy)
    run = made / "changing"
    collect(config, run, threads=1)
    record = copy / "money" / "forgetmap-finetune.json"
    record.write_text(record.read_text().replace('"seconds"', '"seconds_"'))  # not hashed
    collect(config, run, threads=1)
    weights = copy / "money" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(StoreConflictError, match=r"changed: tasks"):
        collect(checkpoint_tasks(load_config(TINY)[0], copy), run, threads=1)


def test_checkpoints_lend_only_to_tasks_of_the_same_id(made):
    config = parse_config(
        {
            **load_config(TINY)[0].to_dict(),
            "tasks": [{"id": "money", "group": "mine", "source": {"kind": "pydoc", "n": 3}}],
        }
    )
    given = checkpoint_tasks(config, made / "ck")
    money, spanish = given.tasks
    assert (money.group, money.source.kind) == ("mine", "pydoc")
    assert spanish.group is None and spanish.source is None
    assert spanish.checkpoint == str((made / "ck" / "spanish").resolve())


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_full_checkpoint_gives_the_trained_row(tmp_path):
    from forgetmap.collect import finetune_task

    text = TINY.read_text().replace("[training]\n", '[training]\nmethod = "full"\n')
    source = tmp_path / "full.toml"
    source.write_text(text)
    config, _ = load_config(source)
    finetune_task(config, "money", tmp_path / "ck" / "money", threads=1)
    money = [task for task in config.to_dict()["tasks"] if task["id"] == "money"]
    trained = parse_config({**config.to_dict(), "tasks": money})  # the same task, trained here
    collect(trained, tmp_path / "trained", threads=1)
    collect(checkpoint_tasks(config, tmp_path / "ck"), tmp_path / "given", threads=1)
    assert open_store(tmp_path / "given").summary(0)["checkpoint_kind"] == "full"
    _assert_rows_equal(tmp_path / "given", tmp_path / "trained")


def test_ray_executor_scores_checkpoint_tasks(made):
    pytest.importorskip("ray")
    config = checkpoint_tasks(load_config(TINY)[0], made / "ck")
    document = collect(config, made / "ray", executor="ray", threads=1)
    assert sorted(document["ran"]) == list(GIVEN)
    _assert_rows_equal(made / "ray", made / "trained")


def test_finetune_refuses_a_checkpoint_task(made):
    config, base = load_config(_with_checkpoints(made))
    with pytest.raises(ConfigError, match="nothing to fine-tune"):
        prepare_finetune(config, "money", made / "again", base_dir=base)


# ---------------------------------------------------------------------- bad input
def _other_adapter(folder: Path) -> Path:
    """A LoRA adapter of a GPT-2 of another width: it cannot fit tiny-random."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    other = GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=32, n_layer=1, n_head=2))
    lora = LoraConfig(r=2, target_modules=["c_attn"], fan_in_fan_out=True, task_type="CAUSAL_LM")
    path = folder / "other" / "lora"
    get_peft_model(other, lora).save_pretrained(path)
    return path


def _bad_cases(made: Path, tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """{case: (config text, options after `collect CONFIG --out OUT`, message)}."""
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    retrained = tmp_path / "retrained" / "money"
    shutil.copytree(made / "ck" / "money", retrained)
    other = _other_adapter(tmp_path)

    def task(lines: str) -> str:
        head = TINY.read_text().split("[[tasks]]", 1)[0]
        return head + "[[tasks]]\n" + lines + "\n" + "[training]\nsteps = 3\n"

    digest = "0" * 64
    return {
        "missing path": (task('id = "a"\ncheckpoint = "./nowhere"'), [], "no checkpoint at"),
        "no checkpoint": (
            task(f'id = "a"\ncheckpoint = "{tmp_path / "empty"}"'),
            [],
            "is not a checkpoint",
        ),
        "hub id offline": (
            task('id = "a"\ncheckpoint = "no-such-org/no-such-adapter-xyz"'),
            [],
            "no checkpoint at 'no-such-org/no-such-adapter-xyz'",
        ),
        "checkpoint and training": (
            task(f'id = "a"\ncheckpoint = "{other}"\ntraining = {{ steps = 5 }}'),
            [],
            "both a checkpoint and training settings",
        ),
        "trained otherwise": (
            TINY.read_text().replace("steps = 3", "steps = 4"),
            ["--checkpoints", str(retrained.parent)],
            "fine-tuned with training.steps = 3",
        ),
        "pinned digest": (
            task(f'id = "a"\ncheckpoint = "{other}"\ncheckpoint_sha256 = "{digest}"'),
            [],
            "its files changed",
        ),
        "no source, no checkpoint": (task('id = "a"'), [], "needs a source to train on"),
        "empty folder": (TINY.read_text(), ["--checkpoints", str(tmp_path / "empty")], "has no"),
        "missing folder": (
            TINY.read_text(),
            ["--checkpoints", str(tmp_path / "nowhere")],
            "is not a directory",
        ),
        "another model": (task(f'id = "a"\ncheckpoint = "{other}"'), [], "another model"),
    }


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_bad_checkpoints_are_one_line_and_exit_2_before_anything_is_written(
    made, tmp_path, cli, monkeypatch
):
    import forgetmap.collect._run as run_module

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    load_model = run_module._tokenizer  # where prepare_run gets (or loads) the model
    loads: list[str] = []

    def counted(*args, **kwargs):
        loads.append("load")
        return load_model(*args, **kwargs)

    monkeypatch.setattr(run_module, "_tokenizer", counted)
    for case, (text, options, message) in _bad_cases(made, tmp_path).items():
        loads.clear()
        config = tmp_path / f"{case.replace(' ', '-').replace(',', '')}.toml"
        config.write_text(text)
        out = tmp_path / "out"
        result = cli("collect", config, "--out", out, *options)
        assert result.code == 2, (case, result.err)
        assert message in result.err, (case, result.err)
        assert len(result.err.strip().splitlines()) == 1, (case, result.err)
        assert not out.exists(), case
        # only the fit to the base model needs the model; the rest is refused before loading
        assert loads == (["load"] if case == "another model" else []), case
    assert "tasks[0] ('a')" in result.err  # the refusal names the task


def test_digest_covers_the_checkpoint_files_only(made, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(made / "ck" / "money", copy)
    digest = checkpoint_digest(copy)
    (copy / "checkpoint-2").mkdir()  # a trainer's intermediate state: not the checkpoint
    (copy / "checkpoint-2" / "optimizer.pt").write_bytes(b"x")
    (copy / "forgetmap-finetune.json").write_text(json.dumps({"seconds": 1}))
    assert checkpoint_digest(copy) == digest
    (copy / "README.md").write_text("notes")
    assert checkpoint_digest(copy) != digest
