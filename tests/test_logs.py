"""The log file handler and the redaction of registered secrets."""

from __future__ import annotations

import base64
import logging
import logging.handlers
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from segment_gui.logs import (
    REDACTED,
    SecretFilter,
    configure_logging,
    contains_secret,
    redact,
    register_secret,
)
from segment_gui.storage import app_paths

logger = logging.getLogger("segment_gui.tests.logs")


def new_secret() -> str:
    """Return a write-key-like value that no other test registers."""
    return f"wk_{uuid.uuid4().hex}"


def token_of(secret: str) -> str:
    return base64.b64encode(f"{secret}:".encode()).decode()


@pytest.fixture
def log_file(home: Path) -> Iterator[Path]:
    """Install configure_logging's handler for this test only, then restore the root logger."""
    root = logging.getLogger()
    saved_handlers = list(root.handlers)
    saved_level = root.level
    for handler in saved_handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            root.removeHandler(handler)
    path = app_paths().log_file
    configure_logging(path)
    added = [handler for handler in root.handlers if handler not in saved_handlers]
    try:
        yield path
    finally:
        for handler in added:
            root.removeHandler(handler)
            handler.close()
        for handler in saved_handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(saved_level)


def flushed_text(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_configure_logging_handler(log_file: Path, home: Path) -> None:
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.handlers.RotatingFileHandler)
    ]
    assert len(handlers) == 1
    handler = handlers[0]
    assert Path(handler.baseFilename) == log_file
    assert log_file.is_relative_to(home)
    assert handler.maxBytes == 1_000_000
    assert handler.backupCount == 3
    assert any(isinstance(f, SecretFilter) for f in handler.filters)
    assert logging.getLogger().level == logging.INFO
    # delay=True: the file is created by the first record, not by configure_logging.
    assert not log_file.exists()

    configure_logging(log_file)
    assert handlers == [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.handlers.RotatingFileHandler)
    ]


def test_secret_redacted_everywhere(log_file: Path) -> None:
    secret = new_secret()
    token = token_of(secret)
    register_secret(secret)

    logger.info(f"key in the message: {secret}")
    logger.info("key in the arguments: %s and %r", secret, {"writeKey": secret})
    logger.info("header: Authorization: Basic %s", token)
    logger.info("not a string: %s", ValueError(secret))
    logger.info(ValueError(f"a message object holding {secret}"))
    try:
        raise RuntimeError(f"request failed with key {secret} and token {token}")
    except RuntimeError:
        logger.exception("send %s failed", "abc")

    text = flushed_text(log_file)
    assert secret not in text
    assert token not in text
    assert "key in the message: [secret]" in text
    assert "key in the arguments: [secret] and {'writeKey': '[secret]'}" in text
    assert "Authorization: Basic [secret]" in text
    assert "not a string: [secret]" in text
    assert "a message object holding [secret]" in text
    assert "send abc failed" in text
    assert "RuntimeError: request failed with key [secret] and token [secret]" in text
    assert "Traceback (most recent call last)" in text


def test_unregistered_text_unchanged(log_file: Path) -> None:
    register_secret(new_secret())
    other = new_secret()
    logger.info("user %s sent %d events (100%% done)", other, 3)
    text = flushed_text(log_file)
    assert f"user {other} sent 3 events (100% done)" in text
    assert REDACTED not in text


def test_bad_format_arguments_logged(log_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = new_secret()
    register_secret(secret)
    logger.info("two placeholders %s %s", secret)
    text = flushed_text(log_file)
    assert "could not be formatted" in text
    assert secret not in text
    assert secret not in capsys.readouterr().err


def test_secret_registered_on_other_thread(log_file: Path) -> None:
    secrets = [new_secret() for _ in range(8)]

    def register_and_log(secret: str) -> None:
        register_secret(secret)
        for number in range(50):
            logger.info("thread record %d with %s", number, secret)

    threads = [threading.Thread(target=register_and_log, args=(s,)) for s in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    text = flushed_text(log_file)
    assert text.count("thread record") == 8 * 50
    for secret in secrets:
        assert secret not in text
        assert token_of(secret) not in text


def test_redact_longest_secret_first() -> None:
    short = new_secret()
    long = short + "_extended"
    register_secret(short)
    register_secret(long)
    assert redact(f"a {long} b {short}") == "a [secret] b [secret]"


def test_empty_secret_ignored() -> None:
    register_secret("")
    register_secret("   ")
    assert redact("plain text stays") == "plain text stays"
    assert not contains_secret("plain text stays")


def test_contains_secret_forms() -> None:
    secret = new_secret()
    assert not contains_secret(f"x{secret}x")
    register_secret(secret)
    assert contains_secret(f"x{secret}x")
    assert contains_secret(f"Basic {token_of(secret)}")
