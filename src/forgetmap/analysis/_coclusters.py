"""Co-clusters: blocks of tasks × examples whose every member carries a raised residual.

The residual is what the multiplicative (rank-1) fit leaves, ``R = values − s₁ u₁ v₁ᵀ``. Each
task's residuals are put on a robust scale and clipped, ``z = clip((R − medianᵢ) / scaleᵢ,
±CLIP)`` (median and 1.4826 · MAD over a seeded sample of at most :data:`SAMPLE_EXAMPLES`
examples), on a grid of step :data:`STEP`, so that every null distribution below is a discrete
one computed exactly from the tasks' own sampled residuals, whatever their shape. Blocks are
found one at a time:

1. **Seed** — the examples are split in two seeded halves; the leading
   :data:`SEED_COMPONENTS` eigenvectors of each half's ``z zᵀ`` (the residual's left singular
   vectors), each with both signs, give seeds: the tasks loading at least
   :data:`SEED_SHARE` of the largest loading. A seed goes on only if step 2 finds an example
   among the *other* half, at level ``fdr`` / (number of seeds): those examples played no part
   in choosing it, so a matrix without any block goes on with probability at most ``fdr``.
2. **Examples given tasks T** — each example's sum ``t_j = Σ_{i∈T} z_ij`` (unmeasured entries
   count 0). Its null distribution is the convolution of the tasks' distributions (a share of
   unmeasured entries as mass at 0), exact for independent tasks, widened by the ratio of the
   observed to the null MAD of the sums when the tasks' residuals are correlated (an empirical
   null, Efron 2004). One-sided p-values, Benjamini–Hochberg at level ``fdr``. The laws and the
   observed MAD are taken over the examples outside the members, so the test is repeated with
   the members it finds until they repeat.
3. **Tasks given examples E** — each task's sum over E against ``n`` independent draws from its
   own distribution over the other examples (``n`` its measured entries in E): exact by
   convolution up to :data:`EXACT_DRAWS` draws, normal beyond. One-sided, Benjamini–Hochberg at
   level ``fdr`` over the tasks.
4. Steps 2 and 3 alternate on all examples until the tasks repeat (a fixed point), for at most
   :data:`MAX_ITERATIONS` rounds. A block of at least :data:`MIN_TASKS` tasks and
   :data:`MIN_EXAMPLES` examples is reported; its cells are then *peeled* (treated as
   unmeasured) and the search starts again, until no seed goes on or ``max_clusters`` were
   found.

Members of no block are simply not listed. Everything streams over column blocks
(:mod:`forgetmap.analysis._blocks`) in the matrix's own precision; the random steps (the split
and the sample) are seeded.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forgetmap.analysis._blocks import CHUNK, column_blocks
from forgetmap.analysis._lowrank import ConvergenceWarning, LowRankFit
from forgetmap.analysis._patterns import benjamini_hochberg

__all__ = ["Bicluster", "coclusters", "find_biclusters"]

#: Examples listed per co-cluster (``n_examples`` always counts them all).
MAX_MEMBERS = 200
#: Each task's scale and null distribution come from at most this many (seeded) examples.
SAMPLE_EXAMPLES = 20_000
#: Residuals in robust standard deviations are clipped at ± this many ...
CLIP = 4.0
#: ... and rounded to multiples of this step, so sums are integers with exact null laws.
STEP = 1 / 32
#: Leading eigenvectors of the residual's task Gram matrix used as seeds (each with both signs).
SEED_COMPONENTS = 3
#: A seed's tasks: those loading at least this share of the vector's largest loading.
SEED_SHARE = 0.5
#: Up to this many draws the task test's null is an exact convolution; above, normal.
EXACT_DRAWS = 64
#: Rounds of the example / task refinement before giving up on a fixed point.
MAX_ITERATIONS = 30
#: The smallest block reported.
MIN_TASKS = 2
MIN_EXAMPLES = 2
_CODES = round(CLIP / STEP)  # codes run over −_CODES .. _CODES
_MAD = 1.4826  # MAD × this estimates the standard deviation of a normal sample
#: The smallest p-value reported (z ≤ 7.94): the FFT's rounding leaves smaller tails unresolved.
P_FLOOR = 1e-15


@dataclass
class Bicluster:
    """One block: its members and the statistics that admitted them.

    ``tasks`` (ascending) and ``examples`` (largest z first, then largest sum) index the matrix.
    ``task_z`` and ``task_q`` are the tasks' normal-equivalent z (Φ⁻¹(1 − p), p at least
    :data:`P_FLOOR`) and Benjamini–Hochberg q-values, ``task_residual`` their mean residual
    over the block's examples; the ``example_*`` arrays likewise over the block's tasks.
    """

    tasks: np.ndarray
    examples: np.ndarray
    task_z: np.ndarray
    task_q: np.ndarray
    task_residual: np.ndarray
    example_z: np.ndarray
    example_q: np.ndarray
    example_residual: np.ndarray
    mean_residual: float
    iterations: int
    converged: bool


def find_biclusters(
    values: np.ndarray,
    rank1: LowRankFit,
    *,
    fdr: float = 0.05,
    max_clusters: int = 5,
    seed: int = 0,
) -> list[Bicluster]:
    """Blocks of tasks × examples with a significantly raised rank-1 residual, in found order.

    Parameters
    ----------
    values : ndarray of shape (n_tasks, n_examples)
        The forgetting matrix, NaN where unmeasured (float32 is read as float32).
    rank1 : LowRankFit
        Its rank-1 fit; the residual is ``values − s₁ u₁ v₁ᵀ``.
    fdr : float
        Benjamini–Hochberg level of every member test.
    max_clusters : int
        Stop after this many blocks.
    seed : int
        Seeds the split of the examples into halves (seeds and their held-out test) and the
        sample that sets each task's scale and null distribution.

    Returns
    -------
    list of Bicluster
        Empty when no block is significant.
    """
    residual = _Residual.build(values, rank1, seed)
    found: list[Bicluster] = []
    while len(found) < max_clusters:
        block = _next_block(residual, fdr)
        if block is None:
            break
        found.append(block)
        residual.peel(block.tasks, block.examples)
    return found


def coclusters(
    values: np.ndarray,
    rank1: LowRankFit,
    task_ids: Sequence[str],
    example_ids: Sequence[str],
    *,
    fdr: float = 0.05,
    max_clusters: int = 5,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The ``coclusters`` entries of the analysis document, largest mean residual first.

    Each entry has ``n_tasks``, ``n_examples``, ``mean_residual`` (over the block's measured
    cells), ``tasks`` (all ids), ``examples`` (at most :data:`MAX_MEMBERS` ids, largest z
    first), ``task_statistics`` and ``example_statistics`` (``{id, mean_residual, z, q_value}``
    for the listed members, in the same order), ``iterations`` and ``converged``.
    """
    result = []
    for block in find_biclusters(values, rank1, fdr=fdr, max_clusters=max_clusters, seed=seed):
        shown = slice(0, MAX_MEMBERS)
        result.append(
            {
                "n_tasks": int(block.tasks.size),
                "n_examples": int(block.examples.size),
                "mean_residual": block.mean_residual,
                "tasks": [task_ids[i] for i in block.tasks],
                "examples": [example_ids[j] for j in block.examples[shown]],
                "task_statistics": _member_rows(
                    task_ids, block.tasks, block.task_residual, block.task_z, block.task_q
                ),
                "example_statistics": _member_rows(
                    example_ids,
                    block.examples[shown],
                    block.example_residual[shown],
                    block.example_z[shown],
                    block.example_q[shown],
                ),
                "iterations": block.iterations,
                "converged": block.converged,
            }
        )
    result.sort(key=lambda entry: -entry["mean_residual"])
    return result


def _member_rows(
    ids: Sequence[str], members: np.ndarray, residual: np.ndarray, z: np.ndarray, q: np.ndarray
) -> list[dict[str, Any]]:
    return [
        {"id": ids[i], "mean_residual": float(r), "z": float(s), "q_value": float(p)}
        for i, r, s, p in zip(members, residual, z, q, strict=True)
    ]


# ---------------------------------------------------------------------- the scaled residual
@dataclass
class _Residual:
    """The residual on the clipped robust scale, read in column blocks; peeled cells unmeasured.

    ``read`` returns codes as floats: integers from −_CODES to _CODES (z / STEP), 0 where
    unmeasured, so that products with 0/1 task weights are exact integer sums.
    """

    values: np.ndarray
    left: np.ndarray  # (M,) s₁ u₁ in the matrix's precision
    right: np.ndarray  # (N,) v₁
    centre: np.ndarray  # (M, 1) each task's median residual
    inverse_step: np.ndarray  # (M, 1) 1 / (robust scale × STEP); 0 for a constant task
    half: np.ndarray  # (N,) bool, a seeded split of the examples in two halves
    sample: np.ndarray  # (S,) sampled examples, ascending
    sample_codes: np.ndarray  # (M, S) int, their codes
    sample_measured: np.ndarray  # (M, S) bool
    peeled: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    sample_counts: np.ndarray | None = None  # (M, K) histogram of sample_codes, when built

    @classmethod
    def build(cls, values: np.ndarray, rank1: LowRankFit, seed: int) -> _Residual:
        """Each task's median and robust scale, from a seeded sample of examples."""
        m, n = values.shape
        dtype = np.float32 if values.dtype == np.float32 else np.float64
        left = (rank1.task_factors[:, 0] * rank1.singular_values[0]).astype(dtype)
        right = rank1.example_factors[:, 0].astype(dtype)
        rng = np.random.default_rng(seed)
        half = rng.permutation(n) < n // 2
        sample = np.arange(n)
        if n > SAMPLE_EXAMPLES:
            sample = np.sort(rng.choice(n, SAMPLE_EXAMPLES, replace=False))
        unit = np.ones((m, 1), dtype)
        empty = np.zeros((m, 0), dtype=int)
        residual = cls(values, left, right, 0 * unit, unit, half, sample, empty, empty.astype(bool))
        raw = residual.raw(sample).astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a task unmeasured on the sample
            centre = np.nanmedian(raw, axis=1)
            scale = _MAD * np.nanmedian(np.abs(raw - centre[:, None]), axis=1)
            spread = np.nanstd(raw, axis=1)
        scale = np.where(scale > 0, scale, spread)  # a task mostly constant: its plain spread
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(np.isfinite(scale) & (scale > 0), 1.0 / (scale * STEP), 0.0)
        residual.centre = np.nan_to_num(centre)[:, None].astype(dtype)
        residual.inverse_step = inverse[:, None].astype(dtype)
        _, codes, measured = residual.read(sample)
        residual.sample_codes = codes.astype(np.int16)
        residual.sample_measured = measured.astype(bool)
        return residual

    @property
    def dtype(self) -> type:
        return self.left.dtype.type

    def peel(self, tasks: np.ndarray, examples: np.ndarray) -> None:
        """Treat a found block's cells as unmeasured from now on."""
        examples = np.sort(examples)
        self.peeled.append((tasks, examples))
        in_block = np.isin(self.sample, examples)
        self.sample_measured[np.ix_(tasks, np.flatnonzero(in_block))] = False
        self.sample_counts = None

    def raw(self, cols: slice | np.ndarray) -> np.ndarray:
        """Residual block (M, b), NaN where unmeasured or peeled."""
        block = np.array(self.values[:, cols], dtype=self.dtype)
        block -= self.left[:, None] * self.right[None, cols]
        positions = np.arange(cols.start, cols.stop) if isinstance(cols, slice) else cols
        for tasks, examples in self.peeled:
            where = np.searchsorted(examples, positions)
            hit = where < examples.size
            hit[hit] = examples[where[hit]] == positions[hit]
            if hit.any():
                block[np.ix_(tasks, np.flatnonzero(hit))] = np.nan
        return block

    def read(self, cols: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw residual, codes and measured mask (M, b), all 0 where unmeasured."""
        raw = self.raw(cols)
        finite = np.isfinite(raw)
        unmeasured = None if finite.all() else ~finite
        if unmeasured is not None:
            raw[unmeasured] = 0
        codes = raw - self.centre
        codes *= self.inverse_step
        np.rint(codes, out=codes)
        np.clip(codes, -_CODES, _CODES, out=codes)
        if unmeasured is not None:
            codes[unmeasured] = 0
        return raw, codes, finite.astype(self.dtype)

    def task_laws(self, excluded: np.ndarray) -> np.ndarray:
        """Each task's distribution of codes over the sampled examples not in ``excluded``.

        Returns an (M, 2·_CODES + 1) array of probabilities (rows summing to 1; a task with no
        sampled value is all at code 0).
        """
        if self.sample_counts is None:
            self.sample_counts = self._histogram(np.arange(self.sample.size))
        counts = self.sample_counts
        inside = np.flatnonzero(np.isin(self.sample, excluded))
        if inside.size:
            counts = counts - self._histogram(inside)
        total = counts.sum(axis=1, keepdims=True)
        laws = counts / np.maximum(total, 1)
        laws[total[:, 0] == 0, _CODES] = 1.0
        return laws

    def _histogram(self, positions: np.ndarray) -> np.ndarray:
        """Counts (M, 2·_CODES + 1) of each task's measured codes on these sampled examples."""
        m = self.sample_codes.shape[0]
        keep = self.sample_measured[:, positions]
        rows = np.broadcast_to(np.arange(m)[:, None], keep.shape)[keep]
        width = 2 * _CODES + 1
        codes = self.sample_codes[:, positions][keep]
        return np.bincount(rows * width + codes + _CODES, minlength=m * width).reshape(m, width)


# ---------------------------------------------------------------------- one block
def _next_block(residual: _Residual, fdr: float) -> Bicluster | None:
    """The next block, or None when no seed passes its held-out test.

    Seeds come from the Gram matrix of one half of the examples and are tested on the other
    half, at level ``fdr`` / (number of seeds): the held-out examples played no part in
    choosing the seed's tasks, so without any block the chance of going on is at most ``fdr``.
    A seed that passes is refined on all examples.
    """
    grams, measured = _gram(residual)
    seeds = [(tasks, half) for half in (0, 1) for tasks in _seeds(grams[half])]
    if not seeds:
        return None
    missing = 1.0 - measured / residual.values.shape[1]  # each task's share unmeasured/peeled
    sums, raw_means = _example_sums(residual, [tasks for tasks, _ in seeds])
    held_out = [np.flatnonzero(residual.half != half) for half in (0, 1)]
    none = np.zeros(0, dtype=np.intp)
    candidates = []
    for row, (tasks, half) in enumerate(seeds):
        scores = _Scores(tasks, sums[row], raw_means[row], missing[tasks])
        found = _examples_given(residual, scores, fdr / len(seeds), held_out[half], none)
        if found.members.size:
            candidates.append((-found.members.size, row, found.members))
    every = np.arange(residual.values.shape[1])
    for _, row, start in sorted(candidates, key=lambda c: c[:2]):
        tasks = seeds[row][0]
        scores = _Scores(tasks, sums[row], raw_means[row], missing[tasks])
        block = _refine(residual, missing, _examples_given(residual, scores, fdr, every, start))
        if block is not None:
            return block
    return None


def _seeds(gram: np.ndarray) -> list[np.ndarray]:
    """Task sets from the leading eigenvectors: per vector and sign, the tasks loading at least
    :data:`SEED_SHARE` of the largest loading."""
    m = gram.shape[0]
    _, vectors = np.linalg.eigh(gram)
    seeds = []
    for k in range(min(SEED_COMPONENTS, m)):
        for sign in (1.0, -1.0):
            loading = sign * vectors[:, m - 1 - k]
            tasks = np.flatnonzero(loading >= SEED_SHARE * loading.max())
            if loading.max() > 0 and tasks.size >= MIN_TASKS:
                seeds.append(tasks)
    return seeds


def _refine(residual: _Residual, missing: np.ndarray, found: _ExampleTest) -> Bicluster | None:
    """Alternate the task and example tests from a seed's examples until the tasks repeat."""
    tasks = found.tasks
    seen: set[bytes] = {tasks.tobytes()}
    converged = False
    for iteration in range(1, MAX_ITERATIONS + 1):  # noqa: B007 (iteration is reported)
        if found.members.size < MIN_EXAMPLES:
            return None
        task_result = _task_test(residual, found.members, found.fdr)
        if task_result.members.size < MIN_TASKS:
            return None
        if np.array_equal(task_result.members, tasks):
            converged = True
            break
        tasks = task_result.members
        if tasks.tobytes() in seen:  # a cycle: keep these tasks and the last examples
            break
        seen.add(tasks.tobytes())
        sums, raw_means = _example_sums(residual, [tasks])
        scores = _Scores(tasks, sums[0], raw_means[0], missing[tasks])
        found = _examples_given(residual, scores, found.fdr, found.columns, found.members)
    if not converged:
        warnings.warn(
            f"co-cluster members did not settle in {iteration} rounds; the last ones are kept",
            ConvergenceWarning,
            stacklevel=4,
        )
    cells = task_result.inside[tasks].sum()
    return Bicluster(
        tasks=tasks,
        examples=found.members,
        task_z=task_result.z[tasks],
        task_q=task_result.q[tasks],
        task_residual=task_result.raw_sum[tasks] / task_result.inside[tasks],
        example_z=found.z,
        example_q=found.q,
        example_residual=found.raw_means,
        mean_residual=float(task_result.raw_sum[tasks].sum() / cells),
        iterations=iteration,
        converged=converged,
    )


# ---------------------------------------------------------------------- the two tests
@dataclass
class _Scores:
    """Every example's code sum and mean residual over one set of tasks, shape (N,) each."""

    tasks: np.ndarray
    sums: np.ndarray
    raw_means: np.ndarray
    missing: np.ndarray  # (T,) each task's share of unmeasured entries


@dataclass
class _ExampleTest:
    """The examples found raised given a set of tasks, largest z first."""

    tasks: np.ndarray
    columns: np.ndarray  # the examples tested
    fdr: float
    members: np.ndarray
    z: np.ndarray
    q: np.ndarray
    raw_means: np.ndarray


def _examples_given(
    residual: _Residual, scores: _Scores, fdr: float, columns: np.ndarray, start: np.ndarray
) -> _ExampleTest:
    """Test ``columns`` with the null taken outside the members, until the members repeat.

    The tasks' null laws and the empirical-null spread both come from the examples outside the
    members found so far (first ``start``): a block covering many examples would otherwise
    widen the null it is tested against.
    """
    members = np.sort(start)
    seen: set[bytes] = set()
    for _ in range(MAX_ITERATIONS):
        laws = residual.task_laws(members)[scores.tasks]
        found = _example_test(scores, laws, fdr, columns, members)
        again = np.sort(found.members)
        if np.array_equal(again, members) or again.tobytes() in seen:
            break
        seen.add(again.tobytes())
        members = again
    return found


def _example_test(
    scores: _Scores, laws: np.ndarray, fdr: float, columns: np.ndarray, excluded: np.ndarray
) -> _ExampleTest:
    """Examples among ``columns`` whose sum over the tasks is raised, largest z first.

    The null of a sum is the convolution of the tasks' ``laws`` (T, K), with each task's share
    of unmeasured entries as mass at 0; its centre and spread are matched to the observed sums
    on the tested examples outside ``excluded``.
    """
    law = laws * (1.0 - scores.missing)[:, None]
    law[:, _CODES] += scores.missing  # unmeasured entries count 0
    null, offset = _convolve(law)
    null_centre, null_spread = _median_and_mad(null, offset)
    sums = scores.sums[columns]
    reference = sums[~np.isin(columns, excluded)]
    reference = reference if reference.size >= 2 else sums
    centre = np.median(reference)
    spread = np.median(np.abs(reference - centre))
    # Efron's empirical null: correlated tasks spread the sums wider than independent ones.
    widen = max(1.0, spread / null_spread) if null_spread > 0 else 1.0
    p = _upper_tail(null, offset, null_centre + (sums - centre) / widen)
    q = benjamini_hochberg(p)
    chosen = np.flatnonzero(q <= fdr)
    z = _normal_equivalent(p[chosen])
    # Largest z first; among the many at the floor, the largest sum.
    order = np.lexsort((chosen, -sums[chosen], -z))
    chosen = chosen[order]
    return _ExampleTest(
        scores.tasks,
        columns,
        fdr,
        columns[chosen],
        z[order],
        q[chosen],
        scores.raw_means[columns[chosen]],
    )


@dataclass
class _TaskTest:
    """The task test over one set of examples; arrays of shape (n_tasks,)."""

    members: np.ndarray  # tasks with q ≤ fdr, ascending
    z: np.ndarray
    q: np.ndarray
    raw_sum: np.ndarray  # raw residual summed over the examples
    inside: np.ndarray  # measured entries among the examples


def _task_test(residual: _Residual, examples: np.ndarray, fdr: float) -> _TaskTest:
    """Tasks whose sum over ``examples`` is raised against draws from their other examples."""
    from scipy.special import ndtr

    examples = np.sort(examples)
    laws = residual.task_laws(examples)
    code_sum, raw_sum, inside = _gather(residual, examples)
    m = laws.shape[0]
    p = np.ones(m)
    codes = np.arange(-_CODES, _CODES + 1)
    mean = laws @ codes
    var = laws @ codes**2 - mean**2
    for i in range(m):
        draws = int(inside[i])
        if draws == 0 or var[i] <= 0:
            continue
        if draws <= EXACT_DRAWS:
            null, offset = _convolve(laws[i : i + 1], draws)
            p[i] = _upper_tail(null, offset, np.array([code_sum[i]]))[0]
        else:  # normal, with a continuity correction
            z = (code_sum[i] - 0.5 - draws * mean[i]) / np.sqrt(draws * var[i])
            p[i] = max(ndtr(-z), P_FLOOR)
    q = benjamini_hochberg(p)
    members = np.flatnonzero(q <= fdr)
    return _TaskTest(members, _normal_equivalent(p), q, raw_sum, inside)


def _convolve(laws: np.ndarray, times: int = 1) -> tuple[np.ndarray, int]:
    """The distribution of a sum of independent codes: ``times`` draws from each row's law.

    Returns the probabilities of the sums ``offset, offset + 1, ...`` (``offset`` negative).
    """
    count = laws.shape[0] * times
    size = count * 2 * _CODES + 1
    length = 1 << int(np.ceil(np.log2(size)))
    spectrum = np.prod(np.fft.rfft(laws, length, axis=1), axis=0) ** times
    law = np.clip(np.fft.irfft(spectrum, length)[:size], 0.0, None)
    return law / law.sum(), -count * _CODES


def _upper_tail(law: np.ndarray, offset: int, at: np.ndarray) -> np.ndarray:
    """P(sum ≥ at) under ``law``; ``at`` may lie between the integers (rounded up)."""
    tail = np.append(np.cumsum(law[::-1])[::-1], 0.0)
    index = np.clip(np.ceil(at - 1e-9).astype(np.int64) - offset, 0, law.size)
    return np.clip(tail[index], P_FLOOR, 1.0)


def _median_and_mad(law: np.ndarray, offset: int) -> tuple[float, float]:
    """Median and median absolute deviation of a distribution over consecutive integers."""
    values = np.arange(law.size) + offset
    cumulative = np.cumsum(law)
    median = float(values[np.searchsorted(cumulative, 0.5)])
    deviation = np.abs(values - median)
    order = np.argsort(deviation, kind="stable")
    mad = deviation[order][np.searchsorted(np.cumsum(law[order]), 0.5)]
    return median, float(mad)


def _normal_equivalent(p: np.ndarray) -> np.ndarray:
    """z with the same upper-tail probability, Φ⁻¹(1 − p)."""
    from scipy.special import ndtri

    return -ndtri(p)


# ---------------------------------------------------------------------- passes
def _gram(residual: _Residual) -> tuple[np.ndarray, np.ndarray]:
    """One pass: the tasks' Gram matrices of codes (unmeasured as 0) over each half of the
    examples, (2, M, M), and each task's measured count (M,)."""
    m, n = residual.values.shape
    grams, measured = np.zeros((2, m, m)), np.zeros(m)
    for cols in column_blocks(n):
        _, codes, finite = residual.read(cols)
        part = codes[:, residual.half[cols]]
        second = (part @ part.T).astype(np.float64)
        grams[0] += (codes @ codes.T).astype(np.float64) - second
        grams[1] += second
        measured += finite.sum(axis=1, dtype=np.float64)
    return grams, measured


def _example_sums(
    residual: _Residual, task_sets: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """One pass: each example's code sum and mean raw residual over each set of tasks.

    Returns two (S, N) arrays; the mean is NaN where none of the set's tasks is measured.
    """
    m, n = residual.values.shape
    weights = np.zeros((len(task_sets), m), dtype=residual.dtype)
    for row, tasks in enumerate(task_sets):
        weights[row, tasks] = 1
    sums, raw_means = np.zeros((len(task_sets), n)), np.full((len(task_sets), n), np.nan)
    for cols in column_blocks(n):
        raw, codes, finite = residual.read(cols)
        sums[:, cols] = weights @ codes  # exact: integers far below 2²⁴
        counts = (weights @ finite).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            raw_means[:, cols] = (weights @ raw).astype(np.float64) / counts
    return sums, raw_means


def _gather(residual: _Residual, examples: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per task over ``examples`` (ascending): code sums, raw residual sums, measured counts."""
    m = residual.values.shape[0]
    code_sum, raw_sum, inside = np.zeros(m), np.zeros(m), np.zeros(m)
    for start in range(0, examples.size, CHUNK):
        raw, codes, finite = residual.read(examples[start : start + CHUNK])
        code_sum += codes.sum(axis=1, dtype=np.float64)
        raw_sum += raw.sum(axis=1, dtype=np.float64)
        inside += finite.sum(axis=1, dtype=np.float64)
    return code_sum, raw_sum, inside
