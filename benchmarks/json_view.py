"""Time showing a long JSON body in JsonView against a plain QPlainTextEdit.

Run with `QT_QPA_PLATFORM=offscreen python -m benchmarks.json_view`. For each body size it
prints the median seconds of setPlainText plus the event processing until the view is idle
(highlighting included), for both widgets, and their ratio. As in the response view, a body
of up to VIEW_LIMIT_CHARS is shown indented, and a longer one is shown cut to that limit.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from PySide6.QtWidgets import QApplication, QPlainTextEdit

from segment_gui.ui.json_view import JsonView
from segment_gui.ui.response_view import VIEW_LIMIT_CHARS, pretty_json

# 600,000 bytes of compact JSON pretty-print to about 1,000,000 characters in 48,000 lines.
SIZES_BYTES = (100_000, 600_000, 1_000_000, 5_000_000)
REPEATS = 5


def make_body(size: int) -> str:
    """Return a compact JSON batch body of about `size` bytes."""
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "user-0001",
        "properties": {"total": 19.99, "coupon": None, "paid": True, "sku": "SKU-123456"},
    }
    one = len(json.dumps(event, separators=(",", ":"))) + 1
    return json.dumps({"batch": [event] * (size // one + 1)}, separators=(",", ":"))


def time_show(app: QApplication, view: QPlainTextEdit, text: str) -> float:
    view.clear()
    app.processEvents()
    start = time.perf_counter()
    view.setPlainText(text)
    app.processEvents()
    return time.perf_counter() - start


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    print("body bytes  shown chars  lines   JsonView s  QPlainTextEdit s  ratio")
    for size in SIZES_BYTES:
        body = make_body(size)
        shown = pretty_json(body) if len(body) <= VIEW_LIMIT_CHARS else body[:VIEW_LIMIT_CHARS]
        figures = {}
        for kind in (QPlainTextEdit, JsonView):
            view = kind()
            view.resize(800, 600)
            view.show()
            figures[kind] = statistics.median(time_show(app, view, shown) for _ in range(REPEATS))
            view.close()
        ratio = figures[JsonView] / figures[QPlainTextEdit]
        print(
            f"{len(body):>10,}  {len(shown):>11,}  {shown.count(chr(10)) + 1:>6,}  "
            f"{figures[JsonView]:>10.3f}  {figures[QPlainTextEdit]:>16.3f}  {ratio:>5.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
