"""The results file: a description of the machine, the results table and the collector ceilings."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata

from benchmarks.common import REPO_ROOT

PASS = "pass"
FAIL = "fail"
REPORTED = "reported"
COLUMNS = (
    "Metric",
    "Size",
    "App",
    "Baseline",
    "App ÷ baseline",
    "Target",
    "Result",
    "Runs",
    "Collector and notes",
)
CEILING_COLUMNS = ("Collector", "One message per request", "/v1/batch", "Runs")


@dataclass
class Row:
    """One line of the results table, already formatted for Markdown."""

    metric: str
    size: str
    app: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    result: str = REPORTED
    runs: str = ""
    notes: str = ""

    def cells(self) -> tuple[str, ...]:
        return (
            self.metric,
            self.size,
            self.app,
            self.baseline,
            self.ratio,
            self.target,
            self.result,
            self.runs,
            self.notes,
        )


def verdict(passed: bool) -> str:
    return PASS if passed else FAIL


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_revision() -> str:
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{revision} with uncommitted changes" if status else revision


def machine_lines() -> list[str]:
    """Describe the machine and the software versions, one Markdown list item per line."""
    try:
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        qt = f"PySide6 {pyside_version}, Qt {qVersion()}"
    except ImportError:
        qt = "PySide6 not installed"
    return [
        f"- CPU: {os.cpu_count()} logical cores, {_cpu_model()}",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- Qt: {qt}, platform plugin offscreen",
        f"- requests {_package_version('requests')}, "
        f"segment-analytics-python {_package_version('segment-analytics-python')}, "
        f"mini-racer {_package_version('mini-racer')}",
        f"- segment-gui revision: {_git_revision()}",
    ]


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return [line(columns), "|" + "---|" * len(columns), *(line(row) for row in rows)]


def render(
    *,
    mode: str,
    command: str,
    seconds: float,
    rows: list[Row],
    ceilings: list[tuple[str, ...]],
    notes: list[str],
    errors: list[str],
) -> str:
    """Return the whole results file as Markdown."""
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# segment-gui benchmark results",
        "",
        f"Mode: {mode}. Command: `{command}`. Finished {started} after {seconds:.0f} s.",
        "",
        "## Machine",
        "",
        *machine_lines(),
        "",
        "## Results",
        "",
        *_table(COLUMNS, [row.cells() for row in rows]),
        "",
        "## Collector ceilings",
        "",
        "Each collector alone, with a client that posts pre-serialized bodies over one "
        "kept-alive socket and no HTTP library.",
        "",
        *_table(CEILING_COLUMNS, ceilings),
        "",
    ]
    if notes:
        lines += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    if errors:
        lines += ["## Errors", "", *(f"- {error}" for error in errors), ""]
    return "\n".join(lines)
