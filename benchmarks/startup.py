"""Start-up time and memory: the app's main window against a bare PySide6 window.

The parent takes the system monotonic clock just before Popen. The child opens its window
offscreen. An event filter on the window receives the first paint event and queues a
zero-delay timer, which runs once that paint pass has finished. The timer prints the clock
and the resident memory (VmRSS) in one line, and the child exits. Every kind of child runs the
same code, except for the window it builds:

- `app` builds the window as `segment-gui` does at start-up
  (`segment_gui.ui.app.create_main_window(home)`);
- `bare` builds a QMainWindow with one QLabel;
- `toolkit` first gets from PySide6 every class that the app's start-up modules import, then
  builds the bare window. PySide6 sets up a class, with its Python enums, on first use, and
  every window that uses the class pays for it. The difference between `toolkit` and `bare`
  is that cost: a part of the app's start-up that only using fewer Qt classes can remove.

The classes come from a `classes` child. It opens the app's window as `app` does, then lists
the PySide6 classes bound at the top level of each `segment_gui` module that is loaded.

Children: `python -m benchmarks.startup app|bare|toolkit|classes`.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.common import BenchmarkError, child_environment, rss_bytes

KINDS = ("app", "bare", "toolkit")
PAINTED_PREFIX = "PAINTED "
CLASSES_PREFIX = "CLASSES "
# The `toolkit` child reads its list of classes, as JSON, from this environment variable.
CLASSES_VARIABLE = "SEGMENT_GUI_BENCH_CLASSES"
CHILD_TIMEOUT_SECONDS = 60.0
# The bare window gets the main window's size, so both paint the same area.
WINDOW_SIZE = (1360, 820)


def run_child_window(kind: str) -> int:
    """Open a window of `kind`, print PAINTED_PREFIX + clock + RSS after its first paint, exit."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication(sys.argv[:1])
    if kind == "app":
        from segment_gui.ui.app import create_main_window

        # start_once sets SEGMENT_GUI_HOME to a folder that the parent deletes.
        window: QMainWindow = create_main_window(os.environ["SEGMENT_GUI_HOME"])
    else:
        if kind == "toolkit":
            for module, name in json.loads(os.environ[CLASSES_VARIABLE]):
                getattr(importlib.import_module(module), name)
        window = QMainWindow()
        window.setCentralWidget(QLabel("segment-gui start-up baseline", window))
        window.resize(*WINDOW_SIZE)

    def report() -> None:
        painted_ns = time.monotonic_ns()
        print(f"{PAINTED_PREFIX}{painted_ns} {rss_bytes() or 0}", flush=True)
        window.close()
        app.quit()

    class FirstPaint(QObject):
        seen = False

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt
            if event.type() == QEvent.Type.Paint and not self.seen:
                self.seen = True
                QTimer.singleShot(0, report)
            return False

    first_paint = FirstPaint()
    window.installEventFilter(first_paint)
    window.show()
    return app.exec()


def print_startup_classes() -> int:
    """Open the app's window, then print the PySide6 classes its loaded modules import."""
    from PySide6.QtWidgets import QApplication

    from segment_gui.ui.app import create_main_window

    app = QApplication(sys.argv[:1])
    window = create_main_window(os.environ["SEGMENT_GUI_HOME"])
    print(f"{CLASSES_PREFIX}{json.dumps(startup_classes())}", flush=True)
    window.close()
    app.processEvents()
    return 0


def startup_classes() -> list[tuple[str, str]]:
    """Return (module, name) of the PySide6 classes at the top of loaded segment_gui modules."""
    found: set[tuple[str, str]] = set()
    for module_name, module in list(sys.modules.items()):
        if module_name != "segment_gui" and not module_name.startswith("segment_gui."):
            continue
        for value in vars(module).values():
            owner = getattr(value, "__module__", None)
            if isinstance(value, type) and isinstance(owner, str) and owner.startswith("PySide6."):
                found.add((owner, value.__name__))
    return sorted(found)


def discover_classes() -> list[tuple[str, str]]:
    """Run a `classes` child and return the classes it lists."""
    with tempfile.TemporaryDirectory(prefix="segment-gui-bench-") as home:
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.startup", "classes"],
            capture_output=True,
            text=True,
            env=child_environment(home),
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
    for line in completed.stdout.splitlines():
        if line.startswith(CLASSES_PREFIX):
            pairs = json.loads(line.removeprefix(CLASSES_PREFIX))
            return [(str(module), str(name)) for module, name in pairs]
    tail = " ".join(completed.stderr.strip().splitlines()[-5:])
    raise BenchmarkError(
        f"the classes child exited with code {completed.returncode} and listed no classes: "
        f"{tail or 'no error output'}"
    )


def start_once(kind: str, classes: list[tuple[str, str]] | None = None) -> tuple[float, int]:
    """Start one child of `kind`; return (milliseconds from Popen to first paint, RSS bytes).

    A `toolkit` child gets `classes`, the (module, name) pairs to set up before its window.
    """
    with tempfile.TemporaryDirectory(prefix="segment-gui-bench-") as home:
        environment = child_environment(home)
        if kind == "toolkit":
            environment[CLASSES_VARIABLE] = json.dumps(classes or [])
        started_ns = time.monotonic_ns()
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.startup", kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        try:
            output, errors = process.communicate(timeout=CHILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise BenchmarkError(
                f"{kind} window did not paint within {CHILD_TIMEOUT_SECONDS:.0f} s"
            ) from None

    for line in output.splitlines():
        if line.startswith(PAINTED_PREFIX):
            painted_ns, rss = (int(part) for part in line.removeprefix(PAINTED_PREFIX).split())
            return (painted_ns - started_ns) / 1e6, rss
    tail = " ".join(errors.strip().splitlines()[-5:])
    raise BenchmarkError(f"{kind} window exited with code {process.returncode}: {tail}")


def measure(runs: int, warmup: bool = True) -> dict[str, Any]:
    """Alternate app, bare and toolkit starts `runs` times each.

    With `warmup`, one unrecorded start of each kind comes first. The result maps each kind
    to its "milliseconds" and "rss_bytes" samples, and "classes" to the toolkit's classes.
    """
    classes = discover_classes()
    if warmup:
        for kind in KINDS:
            start_once(kind, classes)
    samples: dict[str, Any] = {kind: {"milliseconds": [], "rss_bytes": []} for kind in KINDS}
    for _ in range(runs):
        for kind in KINDS:
            milliseconds, rss = start_once(kind, classes)
            samples[kind]["milliseconds"].append(milliseconds)
            samples[kind]["rss_bytes"].append(rss)
    samples["classes"] = classes
    return samples


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in (*KINDS, "classes"):
        print(f"usage: python -m benchmarks.startup {'|'.join(KINDS)}|classes", file=sys.stderr)
        raise SystemExit(2)
    if sys.argv[1] == "classes":
        raise SystemExit(print_startup_classes())
    raise SystemExit(run_child_window(sys.argv[1]))
