"""The log file, and redaction of write keys from everything written to it.

Call `register_secret` with each write key read from the keyring before it is used. From then
on, `SecretFilter` replaces that key, and its HTTP Basic token, with `[secret]` in every record
the log file handler writes. The registry lives for the whole process and is shared by threads.
"""

from __future__ import annotations

import base64
import logging
import sys
import threading
from pathlib import Path

REDACTED = "[secret]"
LOG_MAX_BYTES = 1_000_000
LOG_BACKUP_COUNT = 3

_secrets_lock = threading.Lock()
# Every registered secret and its Basic token, longest first, so that a secret containing
# another one is replaced whole.
_secret_forms: tuple[str, ...] = ()


def basic_token(secret: str) -> str:
    """Return the HTTP Basic credentials Segment expects for a write key: base64 of "key:"."""
    return base64.b64encode(f"{secret}:".encode()).decode("ascii")


def register_secret(value: str) -> None:
    """Add `value` and its Basic token to the strings that `redact` replaces.

    An empty or whitespace-only value is ignored, because replacing it would mangle every
    message. Registering the same value twice has no further effect.
    """
    global _secret_forms
    if not value.strip():
        return
    with _secrets_lock:
        forms = set(_secret_forms) | {value, basic_token(value)}
        _secret_forms = tuple(sorted(forms, key=len, reverse=True))


def _registered_forms() -> tuple[str, ...]:
    with _secrets_lock:
        return _secret_forms


def redact(text: str) -> str:
    """Return `text` with every registered secret and Basic token replaced by `[secret]`."""
    for form in _registered_forms():
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def contains_secret(text: str) -> bool:
    """Return whether `text` contains a registered secret or its Basic token."""
    return any(form in text for form in _registered_forms())


class SecretFilter(logging.Filter):
    """A handler filter that redacts registered secrets in a record's message and traceback.

    The record is changed in place: `msg` becomes the formatted, redacted message and `args`
    becomes None, and the traceback and stack text are formatted and redacted into `exc_text`
    and `stack_info`. Handlers that run after this one therefore see the redacted record too.
    """

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception as error:
            # A bad format string must still be logged, and logging's own handleError would
            # print the raw msg and args, secrets included, to stderr.
            message = (
                f"{record.msg!r} (the log arguments could not be formatted: "
                f"{type(error).__name__}: {error}; arguments: {record.args!r})"
            )
        record.msg = redact(message)
        record.args = None

        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configure_logging(log_file: Path) -> None:
    """Send log records to a rotating file in the log folder; nothing goes to the terminal.

    The file receives INFO and above, rotates at 1 MB and keeps 3 old files, and passes every
    record through `SecretFilter`. A second call does nothing while a rotating file handler is
    installed on the root logger.
    """
    # logging.handlers brings socket, pickle and queue with it, so it loads only here.
    import logging.handlers

    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_file,
            maxBytes=LOG_MAX_BYTES,
            backupCount=LOG_BACKUP_COUNT,
            encoding="utf-8",
            delay=True,
        )
    except OSError as error:
        print(f"segment-gui: cannot write the log file {log_file}: {error}", file=sys.stderr)
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
