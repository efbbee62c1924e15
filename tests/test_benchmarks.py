"""The benchmark suite in quick mode: it finishes and writes a row for every metric.

These tests check that the suite runs, not how fast the app is: they assert no timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Quick mode takes about 20 s on 2 cores; the margin covers a slow, shared machine.
SUITE_TIMEOUT_SECONDS = 240

# The first column of every results row that the suite must write.
METRICS = (
    "Start to first paint",
    "Start to first paint, bare window after the app's PySide6 classes",
    "Memory after first paint (RSS)",
    "Switch resource or operation",
    "Edit one property value",
    "Add a collection row",
    "Memory per collection row",
    "Track events via /v1/batch vs analytics-python",
    "Track events via /v1/batch vs raw requests loop",
    "Events one request each vs raw requests loop",
    "Run with 3 expressions, cost per item",
    "Run with 3 expressions, linearity",
    "Longest event-loop stall in a run (single delivery)",
    "Longest event-loop stall in a run (batch delivery)",
)


def run_suite(out: Path, *arguments: str, environment: dict[str, str] | None = None) -> str:
    """Run `python -m benchmarks --quick` and return the results file it wrote."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out), *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return out.read_text(encoding="utf-8")


def table_rows(text: str) -> dict[str, list[list[str]]]:
    """Return the cells of every Markdown table row, grouped by their first cell."""
    rows: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows.setdefault(cells[0], []).append(cells)
    return rows


def test_quick_suite_writes_every_metric(tmp_path: Path) -> None:
    text = run_suite(tmp_path / "results.md")
    rows = table_rows(text)

    for metric in METRICS:
        assert metric in rows, f"no row for {metric!r} in:\n{text}"
        for cells in rows[metric]:
            assert not cells[6].startswith("error"), cells
    ceilings = [name for name in rows if name.startswith("Collector ceiling: ")]
    assert len(ceilings) == 2, ceilings
    assert "- CPU: " in text
    assert "- Qt: PySide6 " in text


def test_quick_suite_without_analytics_python(tmp_path: Path) -> None:
    # An empty `segment` package ahead of site-packages hides segment.analytics.
    shadow = tmp_path / "shadow" / "segment"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("", encoding="utf-8")
    environment = dict(os.environ, PYTHONPATH=str(shadow.parent))

    text = run_suite(tmp_path / "results.md", "--only", "throughput", environment=environment)
    rows = table_rows(text)

    analytics = rows["Track events via /v1/batch vs analytics-python"][0]
    assert analytics[3] == "skipped"
    assert analytics[6].startswith("skipped: segment-analytics-python is not installed")
    assert "Track events via /v1/batch vs raw requests loop" in rows
