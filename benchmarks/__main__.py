"""Run every benchmark (``make bench``) or the ones named: ``python -m benchmarks store``.

Each ``benchmarks/bench_<name>.py`` has a ``main()`` that measures forgetmap against its
reference in the same run and prints the ratio. Numbers seen are recorded in README.md here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(names: list[str]) -> None:
    available = sorted(
        module.name.removeprefix("bench_")
        for module in pkgutil.iter_modules([str(Path(__file__).parent)])
        if module.name.startswith("bench_")
    )
    unknown = sorted(set(names) - set(available))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; available: {available}")
    for name in names or available:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.bench_{name}").main()


if __name__ == "__main__":
    main(sys.argv[1:])
