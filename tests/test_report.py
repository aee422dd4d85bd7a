"""The report without a browser: escaping, data, downsampling, size and the command."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

import forgetmap
from _report_fixtures import (
    EVIL,
    analysis_document,
    evaluate_document,
    replay_document,
    small_store,
)
from forgetmap.report import (
    build_report,
    embed_json,
    prepare_report,
    render_page,
    select_cells,
    write_report,
)

DATA_BLOCK = re.compile(
    r'<script type="application/json" id="forgetmap-data">(.*?)</script>', re.DOTALL
)


def page_data(page: str) -> dict:
    blocks = DATA_BLOCK.findall(page)
    assert len(blocks) == 1
    return json.loads(blocks[0])


@pytest.fixture
def store(tmp_path):
    store = small_store(tmp_path / "run")
    store.save_json("analysis", analysis_document(store))
    return store


# ---------------------------------------------------------------------- escaping
def test_embedded_json_cannot_end_its_script_and_reads_back_exactly():
    document = {"text": EVIL, "ids": ["a&b", "<!--", "\u2028"], "n": [1.5, None]}
    embedded = embed_json(document)
    assert not re.search(r"[<>&\u2028\u2029]", embedded)
    assert json.loads(embedded) == document


def test_page_keeps_data_text_inert(store):
    page = build_report(store)
    # Exactly two script elements: the data block and the page's own code.
    assert page.count("<script") == 2 and page.count("</script>") == 2
    for raw in ("<script>window.__pwned", "<img src=x", "<b>task</b>", "<b>chat</b>"):
        assert raw not in page
    data = page_data(page)
    assert EVIL in [example["text"] for example in data["examples"]]
    assert "</script><b>task</b>" in [task["id"] for task in data["tasks"]]
    assert data["run"]["config"]["note"] == "<script>alert(1)</script>"


def test_page_forbids_network_and_loads_nothing(store):
    page = build_report(store)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp and "img-src data:" in csp
    # The only URL is the SVG namespace name, which is never fetched.
    assert set(re.findall(r"\b(?:https?|ftp)://[^\s\"')]+", page)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<(?:link|iframe|object|embed|img)\b", page)
    assert not re.search(r"<script[^>]*\bsrc=", page)


def test_templates_never_put_data_through_html_parsing():
    from forgetmap.report._page import page_script

    script = page_script()
    assert "</" not in script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


# ---------------------------------------------------------------------- data
def test_data_reuses_stored_analysis_evaluate_and_replay(store, tmp_path):
    store.save_json("evaluate", evaluate_document())
    replay_path = tmp_path / "replay.json"
    replay_path.write_text(json.dumps(replay_document()))
    data = prepare_report(store, replay=replay_path)
    assert data["analysis"]["source"] == "artifact"
    assert data["analysis"]["fits"]["additive"] == 0.33
    assert data["analysis"]["statistics"]["nan_value"] is None
    cluster = data["analysis"]["coclusters"][0]
    assert cluster["n_examples"] == 40 and len(cluster["examples"]) == 40
    assert [row["mean"] for row in data["task_stats"]] == [0.123] * 8
    assert data["task_stats"][0]["loss_drop"] == 1.0
    assert data["evaluate"]["methods"]["lowrank"]["rmse"] == 0.1
    assert len(data["evaluate"]["scatter"]["lowrank"]["true"]) == 2000
    assert data["replay"]["tests"][0]["a"] == "predicted"
    assert data["run"]["model"] == "tiny-random" and data["run"]["seed"] == 7
    assert data["environment"]["packages"]["numpy"] == np.__version__


def test_replay_artifact_is_used_without_a_path(store):
    assert prepare_report(store)["replay"] is None
    store.save_json("replay", replay_document())
    assert set(prepare_report(store)["replay"]["samplers"]) == {"random", "predicted"}


def test_matrix_and_orderings(store):
    data = prepare_report(store)
    m, n = data["matrix"]["rows"], data["matrix"]["columns"]
    shown = np.frombuffer(base64.b64decode(data["matrix"]["float32_base64"]), "<f4").reshape(m, n)
    np.testing.assert_array_equal(shown, store.forgetting())
    means = shown.mean(axis=1)
    for axis, size in (("rows", m), ("columns", n)):
        for name, order in data["orders"][axis].items():
            assert sorted(order) == list(range(size)), name
    assert set(data["orders"]["rows"]) == {"original", "mean", "group", "svd1", "svd2"}
    assert np.all(np.diff(means[data["orders"]["rows"]["mean"]]) <= 0)
    groups = [data["tasks"][i]["group"] for i in data["orders"]["rows"]["group"]]
    assert groups == sorted(groups, key=groups.index)  # contiguous groups


def test_rank1_panel_is_the_analysis_rank1_fit(store):
    from forgetmap.analysis import low_rank_fit

    data = prepare_report(store)
    panel = np.outer(data["rank1"]["tasks"], data["rank1"]["examples"])
    expected = low_rank_fit(store.forgetting().astype(np.float64), 1, seed=0).reconstruct()
    np.testing.assert_allclose(panel, expected, rtol=1e-6, atol=1e-9)


def test_analysis_is_computed_when_absent(tmp_path):
    store = small_store(tmp_path / "run")
    data = prepare_report(store, rank=3)
    assert data["analysis"]["source"] == "computed"
    assert len(data["analysis"]["rank_r2"]) == 3


# ---------------------------------------------------------------------- downsampling
def test_downsampling_is_deterministic_and_keeps_extremes():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(30, 5000)).astype("float32")
    values[:, 17] += 10  # the most forgotten example
    values[:, 4321] -= 10  # the least forgotten one
    first = select_cells(values, max_cells=3000)
    second = select_cells(values.copy(), max_cells=3000)
    np.testing.assert_array_equal(first.rows, second.rows)
    np.testing.assert_array_equal(first.columns, second.columns)
    assert len(first.rows) == 30 and len(first.columns) == 100
    assert len(first.rows) * len(first.columns) <= 3000
    assert {17, 4321} <= set(first.columns.tolist())
    assert np.all(np.diff(first.columns) > 0)
    # The shown examples span the distribution of mean forgetting.
    means = values.mean(axis=0)
    assert means[first.columns].min() == means.min() and means[first.columns].max() == means.max()
    assert abs(np.median(means[first.columns]) - np.median(means)) < 0.1
    assert "Showing 30 of 30 tasks × 100 of 5,000 examples" in first.describe()


def test_small_matrices_are_shown_whole():
    selection = select_cells(np.zeros((3, 4)), max_cells=100)
    assert not selection.downsampled and selection.columns.tolist() == [0, 1, 2, 3]


def test_page_size_is_bounded_by_the_cell_budget(tmp_path):
    sizes = {}
    for n in (2_000, 20_000):
        store = small_store(tmp_path / f"run{n}", n_tasks=10, n_examples=n, text_len=2_000)
        store.save_json("analysis", analysis_document(store))
        sizes[n] = len(build_report(store, max_cells=10_000).encode())
        data = page_data(build_report(store, max_cells=10_000))
        assert data["matrix"]["rows"] * data["matrix"]["columns"] <= 10_000
        assert data["display"]["downsampled"] is (n > 1_000)
    # Ten times the examples, nearly the same page: what grows is not the drawn data.
    assert sizes[20_000] < 1.2 * sizes[2_000] < 3_000_000


# ---------------------------------------------------------------------- command
def test_report_command_writes_the_page_and_prints_its_path(store, tmp_path, cli):
    out = tmp_path / "out" / "report.html"
    result = cli("report", store.path, "--out", out, "--max-cells", 100)
    assert result.code == 0, result.err
    assert result.out.strip() == str(out)
    data = page_data(out.read_text())
    assert data["matrix"]["rows"] * data["matrix"]["columns"] <= 100
    assert out.stat().st_mode & 0o044  # readable by others, like any page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--replay", "missing.json"], "do not exist"),
        (["--replay", "{bad}"], "no 'samplers'"),
        (["--metric", "nope"], "unknown metric"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(store, tmp_path, cli, extra, message):
    (tmp_path / "{bad}").write_text(json.dumps({"tests": []}))
    extra = [str(tmp_path / e) if e.endswith(("json", "}")) else e for e in extra]
    result = cli("report", store.path, "--out", tmp_path / "r.html", *extra)
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_a_store_without_finished_rows_is_refused(tmp_path, cli):
    store = forgetmap.create_store(tmp_path / "empty", ["a", "b"], ["x", "y", "z"])
    result = cli("report", store.path, "--out", tmp_path / "r.html")
    assert result.code == 2 and "no finished rows" in result.err


def test_write_report_refuses_a_directory(store, tmp_path):
    with pytest.raises(forgetmap.errors.ReportError, match="is a directory"):
        write_report(store, tmp_path)


def test_render_page_is_one_self_contained_document(store):
    page = render_page(prepare_report(store))
    assert page.startswith("<!DOCTYPE html>") and "/*@" not in page


def test_missing_entries_and_unmeasured_examples(tmp_path):
    rng = np.random.default_rng(3)
    values = np.outer(rng.uniform(0.5, 1.5, 6), rng.gamma(2.0, 0.3, 30))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, 4] = np.nan  # an example no task measured
    store = forgetmap.create_store(
        tmp_path / "run",
        [f"t{i}" for i in range(6)],
        [f"e{j}" for j in range(30)],
        kind="imported",
        forgetting=values,
    )
    data = prepare_report(store, rank=2)
    assert data["rank1"]["examples"][4] is None
    assert all(isinstance(v, float) for i, v in enumerate(data["rank1"]["examples"]) if i != 4)
    assert data["orders"]["columns"]["svd1"][-1] == 4  # unmeasured last
    assert data["analysis"]["settings"]["dropped_examples"] == ["e4"]
