"""Progress bars of a run: tasks, training steps and scoring batches, each with its rate."""

from __future__ import annotations

from typing import Any

from forgetmap.collect._work import Hooks, Progress


class RunProgress:
    """Three rich progress bars on stderr: the run's tasks, the current task's training steps
    and the current scoring pass (examples).

    Use as a context manager; :attr:`hooks` are handed to the local executor. Under Ray only the
    task bar moves (workers report nothing until their row is written).
    """

    def __init__(self, console: Any | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            refresh_per_second=4,
        )
        self._tasks = self._progress.add_task("tasks", total=1, rate="", visible=False)
        self._steps = self._progress.add_task("training", total=1, rate="", visible=False)
        self._scores = self._progress.add_task("scoring", total=1, rate="", visible=False)
        self.hooks = Hooks(scoring=self._scoring, training=self._training)

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def note(self, text: str) -> None:
        """Print one line of status above the bars."""
        self._progress.console.print(text, markup=False, highlight=False)

    def start_tasks(self, total: int, finished: int) -> None:
        """Show the task bar: ``finished`` of ``total`` rows are done already."""
        self._progress.update(self._tasks, total=total, completed=finished, visible=True, rate="")

    def task_done(self, task_id: str, summary: dict[str, Any]) -> None:
        """Advance the task bar; without a terminal (logs, CI) also print one line per task."""
        self._progress.advance(self._tasks)
        self._progress.update(self._tasks, rate=_rate(self._progress, self._tasks, "tasks/min"))
        console = self._progress.console
        if not console.is_terminal:
            task = next(task for task in self._progress.tasks if task.id == self._tasks)
            seconds = sum(float(summary.get(k) or 0) for k in ("train_seconds", "score_seconds"))
            what = (
                f"scored its {summary['checkpoint_kind']} checkpoint"
                if "checkpoint_kind" in summary
                else f"loss {summary.get('first_loss', float('nan')):.3f} → "
                f"{summary.get('last_loss', float('nan')):.3f}"
            )
            console.print(
                f"task {task_id} done ({int(task.completed)}/{int(task.total or 0)}): "
                f"{what}, {seconds:.0f} s"
            )

    def _training(self, task_id: str, steps: int) -> Progress:
        bar = self._steps
        self._progress.reset(bar, total=steps, description=f"training {task_id}"[:22], rate="")
        self._progress.update(bar, visible=True)

        def advance(step: int) -> None:
            self._progress.update(bar, completed=step, rate=_rate(self._progress, bar, "steps/s"))

        return advance

    def _scoring(self, label: str, total: int) -> Progress:
        bar = self._scores
        self._progress.reset(bar, total=total, description=f"scoring {label}"[:22], rate="")
        self._progress.update(bar, visible=True)

        def advance(done: int) -> None:
            rate = _rate(self._progress, bar, "examples/s")
            self._progress.update(bar, completed=done, rate=rate)

        return advance


def _rate(progress: Any, bar: Any, unit: str) -> str:
    speed = next(task for task in progress.tasks if task.id == bar).speed
    if speed is None:
        return ""
    if unit.endswith("/min"):
        return f"{speed * 60:.2f} {unit}"
    return f"{speed:.1f} {unit}"
