"""The quickstart end to end: ``forgetmap collect examples/quickstart.toml``, ``info``, and all
of ``make demo``.

Targets: with the model cache warm, collect within 5 minutes on a 2-core CPU and the whole demo
(collect, info, similarity, analyze, evaluate, finetune, forecast --verify, report) within 10;
the first run's one-off conversion of the bundled GGUF model adds under 1 minute. Each is run
as the user runs it (fresh processes; the demo through ``make demo`` itself, into a temporary
folder) and printed against its target.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "quickstart.toml"
COLLECT_TARGET_S = 300.0
DEMO_TARGET_S = 600.0
CONVERSION_TARGET_S = 60.0


def _forgetmap(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "forgetmap", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"forgetmap {' '.join(args)} failed:\n{done.stderr}")
    return seconds, done.stdout


def _conversion_seconds(env: dict[str, str]) -> tuple[float, float]:
    """Seconds to load the bundled model into an empty cache (conversion), then warm."""
    code = (
        "import time; from forgetmap.lm import load_model; "
        "t = time.perf_counter(); load_model('smollm2-135m-instruct'); "
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        cold_env = {**env, "FORGETMAP_CACHE": cache}
        cold = subprocess.run(
            [sys.executable, "-c", code], env=cold_env, capture_output=True, text=True, check=True
        )
        warm = subprocess.run(
            [sys.executable, "-c", code], env=cold_env, capture_output=True, text=True, check=True
        )
    return float(cold.stdout.split()[-1]), float(warm.stdout.split()[-1])


def main() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    cold, warm = _conversion_seconds(env)
    conversion = cold - warm
    print(
        f"bundled model load: first {cold:.1f} s, cached {warm:.1f} s -> conversion adds "
        f"{conversion:.1f} s (target < {CONVERSION_TARGET_S:.0f} s, "
        f"{conversion / CONVERSION_TARGET_S:.2f} of it)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        run = str(Path(tmp) / "quickstart")
        collect_s, out = _forgetmap(
            "--format", "json", "collect", str(CONFIG), "--out", run, env=env
        )
        info_s, _ = _forgetmap("info", run, env=env)
    document = json.loads(out)
    tasks = document["tasks"]
    train = sum(task["train_seconds"] for task in tasks)
    score = sum(task["score_seconds"] for task in tasks)
    m, n = document["shape"]
    total = collect_s + info_s
    print(f"quickstart {m} tasks x {n} examples (model cache warm)")
    print(f"  fine-tuning {train:6.1f} s in all ({train / m:.1f} s per task)")
    print(f"  scoring     {score:6.1f} s after tasks ({score / m:.1f} s per pass of {n} examples)")
    print(f"  collect     {collect_s:6.1f} s (whole process: imports, model, before-scores, tasks)")
    print(f"  info        {info_s:6.1f} s")
    print(
        f"  total       {total:6.1f} s (target <= {COLLECT_TARGET_S:.0f} s, "
        f"{total / COLLECT_TARGET_S:.2f} of it)"
    )
    demo()


def _demo_steps(run_root: str) -> list[tuple[str, float]]:
    """``make demo`` into ``run_root``, timed per step: make echoes each command as it starts,
    so the time between two echoed ``forgetmap`` commands is the first one's."""
    process = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"RUN={run_root}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    marks: list[tuple[str, float]] = []
    for line in process.stdout:
        found = re.match(r"\S*forgetmap (\w+)", line)
        if found:
            marks.append((found.group(1), time.perf_counter()))
    end = time.perf_counter()
    if process.wait() != 0:
        raise SystemExit("make demo failed")
    return [
        (name, (marks[i + 1][1] if i + 1 < len(marks) else end) - start)
        for i, (name, start) in enumerate(marks)
    ]


def demo() -> None:
    """All of ``make demo`` (the environment already set up), step by step."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        steps = _demo_steps(tmp)
        total = time.perf_counter() - start
    print("make demo (model cache warm, environment ready)")
    for name, seconds in steps:
        print(f"  {name:<11} {seconds:6.1f} s")
    print(
        f"  total       {total:6.1f} s (target <= {DEMO_TARGET_S:.0f} s, "
        f"{total / DEMO_TARGET_S:.2f} of it)"
    )


if __name__ == "__main__":
    main()
