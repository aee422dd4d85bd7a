"""The experiment config: TOML in, validated typed models out, one-line errors naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from forgetmap.config import ExperimentConfig, load_config, parse_config
from forgetmap.errors import ConfigError, InputFileNotFoundError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BASE = {
    "upstream": {"n": 4, "sources": [{"kind": "pydoc"}]},
    "tasks": [{"id": "spanish", "source": {"kind": "chatterbot", "language": "spanish"}}],
}


def _with(change) -> dict:
    document = copy.deepcopy(BASE)
    change(document)
    return document


def test_defaults_fill_every_section():
    config = parse_config(BASE)
    assert config.model.id == "smollm2-135m-instruct"
    assert config.model.trust_remote_code is False
    assert config.training.method == "lora" and config.training.steps == 20
    assert config.scoring.metrics == ["nll"]
    assert config.tasks[0].source.kind == "chatterbot"
    # the stored form holds every default and round-trips
    stored = config.to_dict()
    assert stored["training"]["learning_rate"] == 2e-4
    assert parse_config(stored) == config


def test_load_config_reads_toml_and_returns_its_folder(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(
        'seed = 3\n[model]\nid = "tiny-random"\n[upstream]\nn = 8\n'
        'sources = [{ kind = "pydoc", topics = ["if", "while"] }]\n'
        '[[tasks]]\nid = "a"\ngroup = "g"\nsource = { kind = "jsonl", path = "a.jsonl" }\n'
        '[training]\nmethod = "full"\nsteps = 3\ntarget_modules = ["c_attn"]\n'
        '[scoring]\nmetrics = ["nll", "exact_match"]\n'
    )
    config, base = load_config(path)
    assert base == tmp_path.resolve()
    assert config.seed == 3 and config.training.method == "full"
    assert config.tasks[0].group == "g" and config.tasks[0].source.path == "a.jsonl"
    assert config.scoring.metrics == ["nll", "exact_match"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(training={"steps": 0}), "training.steps: must be > 0, got 0"),
        (lambda d: d.update(training={"steps": -3}), "training.steps: must be > 0"),
        (lambda d: d.update(training={"stepz": 3}), "training.stepz: unknown key"),
        (lambda d: d.update(colour="red"), "colour: unknown key"),
        (lambda d: d["tasks"][0]["source"].update(path="x"), "tasks[0].source.path: unknown key"),
        (lambda d: d["tasks"][0]["source"].update(kind="csv"), "tasks[0].source: kind must be"),
        (lambda d: d.update(training={"method": "qlora"}), "training.method: must be 'lora' or"),
        (lambda d: d.update(training={"learning_rate": "1e-4"}), "training.learning_rate:"),
        (lambda d: d.update(scoring={"metrics": ["exact_match"]}), "scoring.metrics: must be"),
        (lambda d: d["upstream"].update(n=0), "upstream.n: must be > 0"),
        (lambda d: d.pop("upstream"), "upstream: required key is missing"),
        (lambda d: d.update(tasks=[]), "tasks: must not be empty"),
        (lambda d: d["tasks"].append(copy.deepcopy(d["tasks"][0])), "duplicate task id 'spanish'"),
        (lambda d: d.update(model={"id": ""}), "model.id: must not be empty"),
        (
            lambda d: d["upstream"]["sources"].append({"kind": "pydoc", "n": 9}),
            "upstream: the sources' own n add up to 9",
        ),
        (
            lambda d: d["upstream"]["sources"].append(
                {"kind": "huggingface", "name": "json", "columns": {"body": "x"}}
            ),
            "upstream.sources[1].columns: unknown field 'body'",
        ),
    ],
)
def test_bad_values_name_the_key(change, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(_with(change), origin="exp.toml")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("exp.toml: ")
    assert message in text


def test_not_toml_and_missing_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\nid = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_training_maps_to_lm_settings():
    lm = pytest.importorskip("forgetmap.lm")
    if not hasattr(lm, "TrainingSettings"):
        pytest.skip("forgetmap.lm has no TrainingSettings yet")
    config = parse_config(_with(lambda d: d.update(training={"target_modules": ["q_proj"]})))
    settings = config.training.settings()
    assert settings.target_modules == ("q_proj",)
    assert settings.steps == config.training.steps and settings.method == "lora"


@pytest.mark.parametrize("name", ["tiny.toml", "quickstart.toml"])
def test_bundled_examples_are_valid(name):
    config, _ = load_config(EXAMPLES / name)
    assert isinstance(config, ExperimentConfig)
    assert len(config.tasks) >= 8
    assert len({task.group for task in config.tasks}) >= 2
    assert config.upstream.n >= 128 or name == "tiny.toml"
    assert len(config.upstream.sources) >= 2


def test_the_quickstart_measures_pretraining_knowledge_across_three_families():
    """The demo's design: N >= 160 upstream examples of the kind of text the model was
    pretrained on (standard-library code and pydoc), M >= 12 tasks in >= 3 families, and code
    tasks from packages that are not among the upstream modules."""
    from forgetmap.collect import plan_run

    config, base = load_config(EXAMPLES / "quickstart.toml")
    plan = plan_run(config, base)
    assert plan.shape[0] >= 12 and plan.shape[1] >= 160
    families = {task.group for task in plan.tasks}
    assert {"code", "language", "english-topic"} <= families
    sources = {example.source.split("/")[0] for example in plan.upstream}
    assert sources == {"stdlib", "pydoc"}
    upstream_files = {example.id.split(":")[0] for example in plan.upstream if ":" in example.id}
    assert all("/" not in path for path in upstream_files)  # top-level modules only
    for task in plan.tasks:
        if task.group == "code":
            assert all("/" in example.id.split(":")[0] for example in task.examples)
    assert config.training.schedule == "constant"


def test_examples_that_build_on_the_quickstart_keep_its_settings():
    """new-tasks.toml (forecast) and replay.toml (replay) read the quickstart store: they must
    fine-tune and score the same model on the same upstream examples the same way."""
    from forgetmap.replay._config import load_replay_config

    quickstart, _ = load_config(EXAMPLES / "quickstart.toml")
    new_tasks, _ = load_config(EXAMPLES / "new-tasks.toml")
    replay, _ = load_replay_config(EXAMPLES / "replay.toml")
    for other in (new_tasks, replay):
        assert other.seed == quickstart.seed
        assert other.model == quickstart.model and other.upstream == quickstart.upstream
        assert other.scoring == quickstart.scoring
    assert new_tasks.training == quickstart.training
    assert not {task.id for task in new_tasks.tasks} & {task.id for task in quickstart.tasks}
    from forgetmap.collect import plan_run

    assert plan_run(new_tasks, EXAMPLES).shape == (2, quickstart.upstream.n)  # the data is there
    store_families = [task.group for task in quickstart.tasks]
    least = min(set(store_families), key=store_families.count)
    assert least in {task.group for task in new_tasks.tasks}  # one from the rarest family
