"""Send one message off the GUI thread: keyring read, HTTP with retries, history record.

The controller owns the cancel flag and turns the sender's progress callbacks, which run on the
worker thread, into a queued Qt signal.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from segment_gui.credentials import CredentialError, CredentialStore
from segment_gui.endpoints import SANDBOX_WRITE_KEY
from segment_gui.history import History, HistoryEntry, cut_response_body
from segment_gui.logs import register_secret
from segment_gui.payload import Message
from segment_gui.ui.workers import TaskRunner

# The sender is imported on the first send, on the worker thread, to keep it out of start-up.
if TYPE_CHECKING:
    from segment_gui.transport import Response, SendOptions

logger = logging.getLogger(__name__)


@dataclass
class SendJob:
    """Everything one send needs; built by the window from the form."""

    base_url: str
    message: Message
    credential: str | None
    options: SendOptions
    parameters: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    body_mode: str = "segment"
    preset: str | None = None
    endpoint_setting: str = ""


class SendController(QObject):
    started = Signal(str)
    progress = Signal(str)
    finished = Signal(object)
    failed = Signal(object)
    recorded = Signal(object)

    def __init__(
        self,
        runner: TaskRunner,
        credentials: CredentialStore,
        history: History,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.credentials = credentials
        self.history = history
        self._cancel: threading.Event | None = None

    def busy(self) -> bool:
        return self._cancel is not None

    def start(self, job: SendJob) -> None:
        if self._cancel is not None:
            return
        cancel = threading.Event()
        self._cancel = cancel
        self.started.emit(f"{job.base_url}/{job.message.path}")
        self.runner.start(lambda: self._run(job, cancel), self._on_done, self._on_error)

    def cancel(self) -> bool:
        """Ask the send in flight to stop; returns False when nothing is running."""
        if self._cancel is None:
            return False
        self._cancel.set()
        self.progress.emit("Cancelling…")
        return True

    def _run(self, job: SendJob, cancel: threading.Event) -> SendOutcome:
        # Runs on the worker thread. Failures are recorded in history too, so nothing typed is
        # lost when Segment is down.
        from segment_gui.transport import SendError, send

        started = datetime.now(UTC)
        response: Response | None = None
        failure: Exception | None = None
        try:
            write_key = (
                self.credentials.key(job.credential) if job.credential else SANDBOX_WRITE_KEY
            )
            register_secret(write_key)
            response = send(
                job.base_url,
                job.message,
                write_key,
                job.options,
                cancel=cancel,
                on_progress=self.progress.emit,
            )
        except (SendError, CredentialError) as error:
            failure = error
        entry = _entry(job, started, response, failure)
        try:
            self.history.append(entry)
        except (OSError, ValueError) as error:
            logger.warning("Could not add send %s to history: %s", entry.id, error)
        return SendOutcome(response, failure, entry)

    def _on_done(self, outcome: SendOutcome) -> None:
        self._cancel = None
        self.recorded.emit(outcome.entry)
        if outcome.response is not None:
            self.finished.emit(outcome.response)
        else:
            self.failed.emit(outcome.error)

    def _on_error(self, error: Exception) -> None:
        self._cancel = None
        self.failed.emit(error)


@dataclass
class SendOutcome:
    response: Response | None
    error: Exception | None
    entry: HistoryEntry


def _entry(
    job: SendJob, started: datetime, response: Response | None, error: Exception | None
) -> HistoryEntry:
    attempts = response.attempts if response is not None else getattr(error, "attempts", [])
    text = cut_response_body(response.text()) if response is not None else ""
    return HistoryEntry(
        id=str(uuid.uuid4()),
        time=started.isoformat(timespec="seconds").replace("+00:00", "Z"),
        endpoint=job.base_url,
        credential=job.credential,
        path=job.message.path,
        request_body=job.message.body,
        status=response.status if response is not None else None,
        reason=response.reason if response is not None else "",
        response_body=text,
        error=None if error is None else _error_text(error),
        attempts=[
            {
                "number": attempt.number,
                "outcome": attempt.outcome,
                "elapsedMs": round(attempt.elapsed_ms, 1),
                "waitedMs": round(getattr(attempt, "waited_ms", 0.0), 1),
            }
            for attempt in attempts
        ],
        elapsed_ms=round(response.elapsed_ms, 1) if response is not None else 0.0,
        parameters=job.parameters,
        settings=job.settings,
        body_mode=job.body_mode,
        preset=job.preset,
        endpoint_setting=job.endpoint_setting,
    )


def _error_text(error: Exception) -> str:
    from segment_gui.transport import SendError

    if isinstance(error, SendError):
        return str(error)
    return f"{type(error).__name__}: {error}"
