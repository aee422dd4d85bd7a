"""The evaluation protocol: masks, splits, metrics, active probing and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forgetmap.errors import PredictionError
from forgetmap.predict import (
    LowRank,
    active_probes,
    draw_probes,
    evaluate,
    make_folds,
    random_probes,
)
from forgetmap.predict.protocol import row_metrics


@pytest.fixture
def planted():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 3)) @ rng.normal(size=(3, 150)) + 0.05 * rng.normal(size=(20, 150))


def test_probes_never_repeat_and_are_fresh_per_row_and_seed():
    measured = np.arange(0, 200, 2)
    probes = draw_probes(measured, 30, 10, seed=0, row=3)
    assert probes.shape == (10, 30)
    for draw in probes:
        assert len(set(draw)) == 30 and set(draw) <= set(measured)
    assert len({tuple(draw) for draw in probes}) == 10
    assert not np.array_equal(probes, draw_probes(measured, 30, 10, seed=0, row=4))
    assert np.array_equal(probes, draw_probes(measured, 30, 10, seed=0, row=3))


def test_probes_never_reach_the_metrics(planted, monkeypatch):
    from forgetmap.predict import _folds

    seen = []
    original = _folds.seed_metrics

    def spy(truth, predicted, predicted_threshold):
        assert truth.truth.size == predicted.size
        seen.append(truth.truth.size)
        return original(truth, predicted, predicted_threshold)

    Z = planted.copy()
    Z[:, 149] = np.nan  # every row has an unmeasured entry: the gathered path
    Z[2, :10] = np.nan
    monkeypatch.setattr(_folds, "seed_metrics", spy)
    evaluate(Z, methods=["mean"], k=7, seeds=2, threads=1)  # one thread: calls in row order
    sizes = np.array(seen).reshape(20, 2)
    assert (sizes[np.arange(20) != 2] == 149 - 7).all()
    assert (sizes[2] == 139 - 7).all()


def test_streamed_rows_equal_gathered_rows(planted, monkeypatch):
    from forgetmap.predict import _folds

    methods = ["mean", "additive", "multiplicative", "lowrank", "knn"]
    streamed = evaluate(planted, methods=methods, k=7, seeds=3, max_rank_entries=60)

    def gather(self, row, probes, fitted, seconds):
        columns = np.arange(self.Z.shape[1])
        return self._gather_row(row, columns, probes, fitted, seconds)

    monkeypatch.setattr(_folds.FoldRunner, "_stream_row", gather)
    gathered = evaluate(planted, methods=methods, k=7, seeds=3, max_rank_entries=60)
    for name in methods:
        for metric, value in gathered["methods"][name].items():
            if metric != "seconds" and value is not None:
                assert streamed["methods"][name][metric] == pytest.approx(value, rel=1e-9), (
                    name,
                    metric,
                )


def test_threads_do_not_change_the_numbers(planted):
    one = evaluate(planted, methods=["lowrank", "knn"], k=7, seeds=2, threads=1)
    two = evaluate(planted, methods=["lowrank", "knn"], k=7, seeds=2, threads=2)
    for name in ("lowrank", "knn"):
        one["methods"][name].pop("seconds")
        two["methods"][name].pop("seconds")
    assert one["methods"] == two["methods"]
    assert one["scatter"] == two["scatter"]


def test_probe_values_excluded_exactly(planted):
    # An estimator that predicts the truth everywhere except a wrong value at probes would score
    # RMSE 0 only if probes are excluded: emulate with the truth-preserving lowrank on exact data.
    Z = planted[:, :]
    doc = evaluate(Z, methods=["lowrank"], k=10, seeds=3)
    assert doc["methods"]["lowrank"]["rmse"] < 0.1


def test_active_beats_random_on_planted_low_rank():
    rng = np.random.default_rng(1)
    # A few examples carry most of the task-specific signal: random probes rarely hit them.
    M, N = 30, 400
    V = rng.normal(size=(N, 3)) * np.where(rng.random((N, 1)) < 0.05, 5.0, 0.2)
    Z = rng.normal(size=(M, 3)) @ V.T + 0.05 * rng.normal(size=(M, N))
    random_doc = evaluate(Z, methods=["lowrank"], k=6, seeds=3, probe="random", split="kfold:5")
    active_doc = evaluate(Z, methods=["lowrank"], k=6, seeds=3, probe="active", split="kfold:5")
    assert active_doc["methods"]["lowrank"]["rmse"] < random_doc["methods"]["lowrank"]["rmse"]


def test_active_probes_pick_informative_columns():
    V = np.zeros((2, 10))
    V[0, 3] = 1.0
    V[1, 7] = 1.0
    V += 1e-3
    assert active_probes(V, 2).tolist() == [3, 7]
    assert active_probes(V, 2, candidates=np.array([0, 1, 7])).tolist()[-1] == 7


def test_random_probes_bad_k():
    with pytest.raises(PredictionError):
        random_probes(np.arange(5), 6, np.random.default_rng(0))


def test_folds():
    assert len(make_folds(5, "loo")) == 5
    folds = make_folds(10, "kfold:3", seed=1)
    assert sorted(np.concatenate([test for _, test in folds]).tolist()) == list(range(10))
    groups = ["a", "a", "b", "b", "c"]
    folds = make_folds(5, "group:family", groups=groups)
    assert [test.tolist() for _, test in folds] == [[0, 1], [2, 3], [4]]
    for train, test in folds:
        assert not set(train) & set(test)


def test_row_metrics_perfect_prediction():
    truth = np.linspace(-1, 1, 101)
    metrics = row_metrics(truth, truth, threshold=0.0, predicted_threshold=0.0)
    assert metrics["se"] == 0 and metrics["spearman"] == pytest.approx(1.0)
    assert metrics["auc"] == pytest.approx(1.0) and metrics["precision_at_10"] == 1.0
    assert metrics["fp"] == 0 and metrics["fn"] == 0


def test_evaluate_document(planted):
    groups = ["g0"] * 10 + ["g1"] * 10
    doc = evaluate(planted, k=10, seeds=2, split="group:family", groups=groups)
    assert set(doc["methods"]) == {
        "mean",
        "additive",
        "multiplicative",
        "lowrank",
        "lowrank_tuned",
        "knn",
        "auto",
    }
    assert set(doc["skipped"]) == {
        "similarity_embedding",
        "similarity_tfidf",
        "gradient",
        "representation",
    }
    result = doc["methods"]["lowrank"]
    for key in (
        "rmse",
        "mae",
        "pearson",
        "spearman",
        "f1",
        "precision",
        "recall",
        "auc",
        "precision_at_10",
        "coverage_90",
        "seconds",
        "rmse_std",
        "auc_std",
    ):
        assert key in result
    assert result["rmse"] < doc["methods"]["mean"]["rmse"]
    assert len(doc["scatter"]["lowrank"]["true"]) <= 2000
    json.dumps(doc, allow_nan=False)
    again = evaluate(planted, k=10, seeds=2, split="group:family", groups=groups)
    assert again["scatter"] == doc["scatter"]


def test_baselines_run_with_their_inputs(planted):
    rng = np.random.default_rng(3)
    similarity = planted + 0.5 * rng.normal(size=planted.shape)
    texts = {
        "tasks": [[f"task {i} word{i % 4} text"] for i in range(20)],
        "examples": [f"example {j} token{j % 7}" for j in range(150)],
    }
    doc = evaluate(
        planted,
        k=10,
        seeds=1,
        split="kfold:4",
        methods=["mean", "similarity_tfidf", "gradient", "representation"],
        similarities={"tfidf": similarity, "gradient": -similarity},
        texts=texts,
    )
    assert set(doc["methods"]) == {"mean", "similarity_tfidf", "gradient", "representation"}
    assert doc["methods"]["similarity_tfidf"]["pearson"] > 0.5
    assert "coverage_90" not in doc["methods"]["gradient"]


def test_binary_matrix_runs_logistic_models():
    rng = np.random.default_rng(4)
    B = (rng.random((12, 1)) + rng.random((1, 80)) > 1.0).astype(float)
    doc = evaluate(B, k=10, seeds=1, split="kfold:3")
    assert {"logistic_additive", "logistic_lowrank"} <= set(doc["methods"])
    assert doc["settings"]["binary"] and doc["settings"]["predicted_threshold"] == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "positive integer"),
        ({"k": 150}, "fewer than the 150 measured"),
        ({"methods": ["nope"]}, "unknown method"),
        ({"split": "half"}, "unknown split"),
        ({"split": "kfold:1"}, "kfold"),
        ({"probe": "smart"}, "unknown probe"),
    ],
)
def test_bad_input(planted, kwargs, message):
    with pytest.raises(PredictionError, match=message):
        evaluate(planted, seeds=1, **{"k": 5, **kwargs})


def test_empty_test_row_and_too_few_training_rows(planted):
    Z = planted.copy()
    Z[4] = np.nan
    with pytest.raises(PredictionError, match="no measured"):
        evaluate(Z, k=5, seeds=1)
    with pytest.raises(PredictionError, match="at least 2"):
        evaluate(planted[:2], k=5, seeds=1)


def test_lowrank_components_feed_active_probes(planted):
    components = LowRank(rank=3).fit(planted).components_
    chosen = active_probes(components, 5)
    assert len(set(chosen.tolist())) == 5


@pytest.mark.parametrize("shared_prediction", [False, True])
def test_streamed_metrics_equal_the_per_seed_metrics(shared_prediction):
    from forgetmap.predict._metrics import StreamedMetrics, StreamedRow, Truth, seed_metrics

    rng = np.random.default_rng(7)
    n, n_seeds, k, block = 3000, 4, 25, 700
    truth_row = rng.normal(size=n)
    rows = 1 if shared_prediction else n_seeds
    prediction = truth_row + rng.normal(scale=0.5, size=(rows, n))
    half = np.abs(rng.normal(size=(rows, n)))
    probes = np.stack([rng.choice(n, size=k, replace=False) for _ in range(n_seeds)])
    hidden = [np.setdiff1d(np.arange(n), p) for p in probes]
    samples = [np.sort(rng.choice(len(h), size=1000, replace=False)) for h in hidden]
    columns = [h[s] for h, s in zip(hidden, samples, strict=True)]
    starts = np.arange(0, n, block)
    row = StreamedRow(
        truth_row,
        probes,
        [Truth(truth_row[c], 0.1, None) for c in columns],
        columns,
        starts,
        threshold=0.1,
        predicted_threshold=0.2,
    )
    streamed = StreamedMetrics(row)
    for number, start in enumerate(starts):
        part = slice(start, start + block)
        streamed.add(number, prediction[:, part], half[:, part])
    full = np.broadcast_to(prediction, (n_seeds, n))
    full_half = np.broadcast_to(half, (n_seeds, n))
    fused, covered = streamed.finish(
        np.take_along_axis(full, probes, 1), np.take_along_axis(full_half, probes, 1)
    )
    for s in range(n_seeds):
        h = hidden[s]
        expected = seed_metrics(Truth(truth_row[h], 0.1, samples[s]), full[s, h], 0.2)
        assert fused[s] == pytest.approx(expected, rel=1e-9)
        inside = np.abs(full[s, h] - truth_row[h]) <= full_half[s, h]
        assert covered[s].tolist() == [inside.sum(), h.size]


@pytest.mark.parametrize("values", [[3.0, 1.0, 2.0], [2.0, 1.0, 2.0, 2.0, 0.5, 1.0], [1.0, 1.0]])
def test_ranks_average_ties_as_rankdata(values):
    from scipy.stats import rankdata

    from forgetmap.predict._metrics import rank_order

    rng = np.random.default_rng(0)
    for x in (np.array(values), rng.integers(0, 50, size=2000).astype(np.float64)):
        ranks, order = rank_order(x)
        np.testing.assert_array_equal(ranks, rankdata(x))
        assert (np.diff(x[order]) >= 0).all()


def test_precision_at_10_does_not_depend_on_how_ties_sort():
    from forgetmap.predict._metrics import top_share

    x = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    share = top_share(x, 3)
    np.testing.assert_allclose(share, [0, 2 / 3, 2 / 3, 2 / 3, 0, 1, 0, 0, 0, 0])
    assert share.sum() == pytest.approx(3)
    truth = np.repeat([0.0, 1.0], [15, 5])
    metrics = row_metrics(truth, np.ones(20), threshold=0.5, predicted_threshold=0.5)
    # A constant prediction picks its top 10% at random: chance level, 10%, whatever the sort.
    assert metrics["precision_at_10"] == pytest.approx(0.1)


def test_half_precision_is_evaluated_in_single_precision(planted):
    half = evaluate(planted.astype(np.float16), methods=["lowrank"], k=7, seeds=2)
    single = evaluate(
        planted.astype(np.float16).astype(np.float32), methods=["lowrank"], k=7, seeds=2
    )
    assert half["methods"]["lowrank"]["rmse"] == single["methods"]["lowrank"]["rmse"]
