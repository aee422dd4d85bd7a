"""Scoring throughput: ``score_nll`` against two references on the same examples and model.

- forward: the model's plain forward pass (full logits) over the same number of tokens laid out
  as unpadded, equal-length batches -- the most a padded, batched scorer could hope for.
  Target: ``score_nll`` >= 0.8x its throughput.
- one at a time: the same examples scored one per forward pass (full logits, log-softmax,
  gather), as a straightforward loop would. Target: ``score_nll`` >= 3x its throughput.

``score_nll`` runs twice: with a fixed count per batch (``--batch-size``) and with a budget of
padded tokens per batch (``--max-batch-tokens``, ``scoring.max_batch_tokens``). The device, its
name and the dtype are printed, so a GPU run can be recorded as it is.

Runs on the real bundled model by default; ``--tiny`` (or FORGETMAP_BENCH_MODEL=tiny-random)
gives a quick run on ``tiny-random``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from benchmarks._measure import timed


def _examples(n: int, seed: int = 0) -> list:
    """Plain-text and chat examples of 16 to ~128 tokens cut from Python's own documentation."""
    from pydoc_data.topics import topics

    from forgetmap.data import Example

    words = " ".join(topics[key] for key in sorted(topics)).split()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        start = int(rng.integers(0, len(words) - 200))
        length = int(rng.integers(10, 90))
        chunk = " ".join(words[start : start + length])
        if i % 2:
            question = " ".join(words[start + length : start + length + int(rng.integers(3, 20))])
            out.append(Example(f"c{i}", messages=(("user", question), ("assistant", chunk))))
        else:
            out.append(Example(f"t{i}", text=chunk))
    return out


def _one_at_a_time(loaded, encoded) -> np.ndarray:
    import torch

    scores = []
    with torch.inference_mode():
        for example in encoded:
            ids = torch.from_numpy(example.input_ids)[None].to(loaded.device)  # (1, T)
            logits = loaded.model(input_ids=ids).logits[0].float()  # (T, V)
            logp = torch.log_softmax(logits[:-1], dim=-1)  # (T-1, V)
            token = logp.gather(1, ids[0, 1:, None])[:, 0]  # (T-1,)
            mask = torch.from_numpy(example.scored[1:]).to(loaded.device)
            scores.append(float(-token[mask].mean()))
    return np.array(scores)


def _forward_equal_batches(loaded, n_tokens: int, length: int, batch_size: int) -> None:
    import torch

    rows = max(n_tokens // length, 1)
    rng = np.random.default_rng(1)
    ids = torch.from_numpy(rng.integers(0, len(loaded.tokenizer) - 1, (rows, length)))
    with torch.inference_mode():
        for start in range(0, rows, batch_size):
            loaded.model(input_ids=ids[start : start + batch_size].to(loaded.device))


def main(
    model: str | None = None,
    n_examples: int = 96,
    batch_size: int = 16,
    max_batch_tokens: int = 2048,
) -> None:
    import torch

    from forgetmap.lm import encode_examples, load_model, score_nll

    name = model or os.environ.get("FORGETMAP_BENCH_MODEL", "smollm2-135m-instruct")
    loaded = load_model(name)
    encoded = encode_examples(loaded.tokenizer, _examples(n_examples), max_length=128)
    lengths = np.array([len(e) for e in encoded])
    n_tokens = int(lengths.sum())
    length = round(lengths.mean())
    score_nll(loaded, encoded[:batch_size], batch_size=batch_size)  # warm-up

    device = str(loaded.device)
    if loaded.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(loaded.device)})"
    print(f"model {name} on {device}, {loaded.model.dtype} ({torch.get_num_threads()} threads)")
    print(
        f"{n_examples} examples, {n_tokens} tokens (lengths {lengths.min()}-{lengths.max()}, "
        f"mean {length}), batch size {batch_size} or {max_batch_tokens} padded tokens",
        flush=True,
    )
    score_s, scores = timed(lambda: score_nll(loaded, encoded, batch_size=batch_size), repeats=2)
    print(f"score_nll        {score_s:7.2f} s  {n_tokens / score_s:8.0f} tok/s", flush=True)
    budget_s, budget_scores = timed(
        lambda: score_nll(loaded, encoded, max_batch_tokens=max_batch_tokens), repeats=2
    )
    print(f"  token budget   {budget_s:7.2f} s  {n_tokens / budget_s:8.0f} tok/s", flush=True)
    forward_s, _ = timed(
        lambda: _forward_equal_batches(loaded, n_tokens, length, batch_size), repeats=2
    )
    print(f"forward (equal)  {forward_s:7.2f} s  {n_tokens / forward_s:8.0f} tok/s", flush=True)
    loop_s, naive = timed(lambda: _one_at_a_time(loaded, encoded))
    print(f"one at a time    {loop_s:7.2f} s  {n_tokens / loop_s:8.0f} tok/s")
    tolerance = 1e-2 if loaded.model.dtype != torch.float32 else 1e-4
    np.testing.assert_allclose(scores, naive, rtol=tolerance)
    np.testing.assert_allclose(budget_scores, naive, rtol=tolerance)
    print(f"ratio to forward pass:   {forward_s / score_s:.2f}x (target >= 0.8x)")
    print(f"  token budget:          {forward_s / budget_s:.2f}x")
    print(f"ratio to one at a time:  {loop_s / score_s:.2f}x (target >= 3x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="use tiny-random (quick)")
    parser.add_argument("--model", default=None, help="any model name load_model accepts")
    parser.add_argument("--examples", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-batch-tokens", type=int, default=2048)
    args = parser.parse_args()
    main(
        "tiny-random" if args.tiny else args.model,
        args.examples,
        args.batch_size,
        args.max_batch_tokens,
    )
