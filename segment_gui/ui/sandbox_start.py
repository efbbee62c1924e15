"""The sandbox collector's start on a worker thread, which keeps its imports out of start-up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from segment_gui.sandbox import ReceivedMessage, SandboxCollector

logger = logging.getLogger(__name__)


class SandboxStart:
    """The start of a sandbox collector, which imports the collector's module only then.

    `run` is meant for a worker thread. `done` is set when it returns, with either `collector`
    or `error` set.
    """

    def __init__(self, on_message: Callable[[ReceivedMessage], None]) -> None:
        self._on_message = on_message
        self.done = threading.Event()
        self.collector: SandboxCollector | None = None
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            from segment_gui.sandbox import SandboxCollector

            collector = SandboxCollector(on_message=self._on_message)
            collector.start()
            self.collector = collector
        except OSError as error:
            logger.warning("The local sandbox did not start: %s", error)
            self.error = error
        finally:
            self.done.set()
